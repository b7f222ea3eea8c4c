// Package v1alpha1 contains the API of mcp-handle-operator: Handles (tenants),
// OAuthClients (connector registrations), Toolsets (upstream MCP servers) and
// Connections (a user's approval of a client on a handle).
//
// +kubebuilder:object:generate=true
// +kubebuilder:ac:generate=true
// +groupName=mcp.10x.in
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "mcp.10x.in", Version: "v1alpha1"}

	// SchemeGroupVersion is GroupVersion under the name the generated apply
	// configurations (applyconfiguration/utils.go) use.
	SchemeGroupVersion = GroupVersion

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Handle{}, &HandleList{},
		&OAuthClient{}, &OAuthClientList{},
		&Toolset{}, &ToolsetList{},
		&Connection{}, &ConnectionList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
