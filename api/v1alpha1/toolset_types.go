package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ToolsetSpec declares an upstream MCP server and the scopes its tools need.
type ToolsetSpec struct {
	// url is the upstream's MCP endpoint (Streamable HTTP). The runtime calls
	// it with a short-lived token it mints itself, never the client's token.
	// +required
	// +kubebuilder:validation:MinLength=8
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['https', 'http']",message="url must be an absolute http or https URL"
	URL string `json:"url,omitempty"`

	// timeout bounds each call to the upstream, after which the call becomes
	// an MCP tool error. Defaults to 10s; at most 5m.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('5m')",message="timeout must be more than 0s and at most 5m"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// scopes are the scopes the toolset's tools need: read for tools the
	// upstream marks read-only (readOnlyHint), write for every other tool.
	// +optional
	Scopes *ToolsetScopes `json:"scopes,omitempty"`

	// tools overrides the scopes of individual tools by name.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	Tools []ToolOverride `json:"tools,omitempty"`
}

// ToolsetScopes are the scopes a toolset's tools need.
type ToolsetScopes struct {
	// read are the scopes needed to call the toolset's read-only tools, for
	// example links.read.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Read []Scope `json:"read,omitempty"`

	// write are the scopes needed to call the toolset's tools that change
	// state, for example links.write.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Write []Scope `json:"write,omitempty"`
}

// ToolOverride sets the scopes of one tool, replacing the read/write rule.
type ToolOverride struct {
	// name is the tool's name as the upstream lists it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+$`
	Name string `json:"name,omitempty"`

	// scopes are the scopes needed to call this tool.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Scopes []Scope `json:"scopes,omitempty"`
}

// ToolsetStatus is what the runtime observed of the upstream.
type ToolsetStatus struct {
	// conditions describe the toolset's state; see the ToolsetCondition*
	// types.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// toolCount is the number of tools the upstream listed last time.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ToolCount int32 `json:"toolCount,omitempty"`

	// observedGeneration is the generation of the spec last acted on.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Toolset is an upstream MCP server whose tools handles may expose.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ts,categories=mcp
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Tools",type=integer,JSONPath=`.status.toolCount`
// +kubebuilder:printcolumn:name="Reachable",type=string,JSONPath=`.status.conditions[?(@.type=="Reachable")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Toolset struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the toolset.
	// +required
	Spec ToolsetSpec `json:"spec,omitzero"`

	// status is what the runtime observed.
	// +optional
	Status ToolsetStatus `json:"status,omitempty"`
}

// ToolsetList is a list of Toolsets.
//
// +kubebuilder:object:root=true
type ToolsetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Toolset `json:"items"`
}
