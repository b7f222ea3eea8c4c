package runtime

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// Cluster reads the runtime's objects through a client, in production the
// informer-backed cache, so an object added or changed with kubectl is seen
// without a restart.
type Cluster struct {
	Reader client.Reader
	// Namespace holds client Secrets.
	Namespace string
	// Indexed says Reader has MetadataDocumentURLIndex (the informer cache
	// in production); without it, finding a client by its metadata document
	// URL lists every OAuthClient.
	Indexed bool
}

// Handle returns the named handle, or nil when it does not exist.
func (c Cluster) Handle(ctx context.Context, name string) (*mcpv1alpha1.Handle, error) {
	return get[mcpv1alpha1.Handle](ctx, c.Reader, "", name)
}

// List returns every handle.
func (c Cluster) List(ctx context.Context) ([]mcpv1alpha1.Handle, error) {
	var l mcpv1alpha1.HandleList
	if err := c.Reader.List(ctx, &l); err != nil {
		return nil, fmt.Errorf("failed to list handles: %w", err)
	}
	return l.Items, nil
}

// ConnectorScopes returns the scopes a connector of the handle needs: see
// Handle.ConnectorScopes. It reads the handle's toolsets from the cache.
func (c Cluster) ConnectorScopes(ctx context.Context, h *mcpv1alpha1.Handle) ([]mcpv1alpha1.Scope, error) {
	var specs []*mcpv1alpha1.ToolsetSpec
	for _, ref := range h.Spec.Toolsets {
		ts, err := get[mcpv1alpha1.Toolset](ctx, c.Reader, "", ref.Name)
		if err != nil {
			return nil, err
		}
		if ts != nil {
			specs = append(specs, &ts.Spec)
		}
	}
	return h.ConnectorScopes(specs), nil
}

// Client returns the OAuth client with the client_id, or nil. Client ids are
// object names, or for clients declared with registration MetadataDocument,
// their metadataDocumentURL (the document itself is fetched and checked by
// oauth.MetadataDocumentClients).
func (c Cluster) Client(ctx context.Context, clientID string) (*mcpv1alpha1.OAuthClient, error) {
	if strings.HasPrefix(clientID, "https://") {
		return c.metadataDocumentClient(ctx, clientID)
	}
	if clientID == "" || strings.Contains(clientID, "/") {
		return nil, nil
	}
	return get[mcpv1alpha1.OAuthClient](ctx, c.Reader, "", clientID)
}

// MetadataDocumentURLIndex is the field index of OAuthClients by
// spec.metadataDocumentURL.
const MetadataDocumentURLIndex = "spec.metadataDocumentURL"

// IndexMetadataDocumentURLs registers MetadataDocumentURLIndex with an
// informer cache, before it starts; set Cluster.Indexed when it is.
func IndexMetadataDocumentURLs(ctx context.Context, indexer client.FieldIndexer) error {
	err := indexer.IndexField(ctx, &mcpv1alpha1.OAuthClient{}, MetadataDocumentURLIndex, func(o client.Object) []string {
		if c, ok := o.(*mcpv1alpha1.OAuthClient); ok && c.Spec.Registration == mcpv1alpha1.RegistrationMetadataDocument && c.Spec.MetadataDocumentURL != "" {
			return []string{c.Spec.MetadataDocumentURL}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("failed to index OAuthClients by metadata document URL: %w", err)
	}
	return nil
}

// metadataDocumentClient returns the OAuthClient declared with registration
// MetadataDocument for the URL, or nil. Should several declare it, the
// oldest (then the first by name) wins.
func (c Cluster) metadataDocumentClient(ctx context.Context, docURL string) (*mcpv1alpha1.OAuthClient, error) {
	var l mcpv1alpha1.OAuthClientList
	var opts []client.ListOption
	if c.Indexed {
		opts = append(opts, client.MatchingFields{MetadataDocumentURLIndex: docURL})
	}
	if err := c.Reader.List(ctx, &l, opts...); err != nil {
		return nil, fmt.Errorf("failed to list OAuthClients: %w", err)
	}
	var found *mcpv1alpha1.OAuthClient
	for i := range l.Items {
		oc := &l.Items[i]
		if oc.Spec.Registration != mcpv1alpha1.RegistrationMetadataDocument || oc.Spec.MetadataDocumentURL != docURL {
			continue
		}
		if found == nil || oc.CreationTimestamp.Before(&found.CreationTimestamp) ||
			oc.CreationTimestamp.Equal(&found.CreationTimestamp) && oc.Name < found.Name {
			found = oc
		}
	}
	return found, nil
}

// ClientSecret returns a confidential client's secret, or "".
func (c Cluster) ClientSecret(ctx context.Context, oc *mcpv1alpha1.OAuthClient) (string, error) {
	s, err := get[corev1.Secret](ctx, c.Reader, c.Namespace, oc.SecretName())
	if err != nil || s == nil {
		return "", err
	}
	// Only a Secret the client owns holds its secret.
	if ref := metav1.GetControllerOf(s); ref == nil || ref.UID != oc.UID {
		return "", nil
	}
	return string(s.Data[mcpv1alpha1.ClientSecretKey]), nil
}

func get[T any, PT interface {
	*T
	client.Object
}](ctx context.Context, r client.Reader, namespace, name string) (*T, error) {
	obj := PT(new(T))
	if err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to read %s/%s: %w", namespace, name, err)
	}
	return (*T)(obj), nil
}
