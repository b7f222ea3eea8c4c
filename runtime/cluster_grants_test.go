package runtime_test

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime"
)

// emptyCache is an informer cache that has not seen anything yet.
type emptyCache struct{ client.Reader }

func (emptyCache) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(schema.GroupResource{Group: mcpv1alpha1.GroupVersion.Group, Resource: "connections"}, key.Name)
}

// countingReader counts the reads that reach the apiserver.
type countingReader struct {
	client.Reader
	gets int
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.gets++
	return c.Reader.Get(ctx, key, obj, opts...)
}

// A grant the cache has not seen yet (approved through another replica a
// moment ago) is active; one the apiserver does not have either is not, and
// is not read again.
func TestGrantsWithFallback(t *testing.T) {
	ctx := context.Background()
	conn := &mcpv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Name: "conn-fallback"},
		Spec: mcpv1alpha1.ConnectionSpec{Handle: "acme", ClientID: "c", Subject: "s", Resource: "https://acme.mcp.10x.in/mcp",
			Scopes: []mcpv1alpha1.Scope{mcpv1alpha1.ScopeMCPConnect}}}
	if err := env.Client.Create(ctx, conn); err != nil {
		t.Fatal(err)
	}
	direct := &countingReader{Reader: env.Client}
	g := &runtime.GrantsWithFallback{Cluster: runtime.Cluster{Reader: emptyCache{}}, Direct: direct}
	if ok, err := g.Active(ctx, conn.Name); !ok || err != nil {
		t.Fatalf("a grant only the apiserver has: active %v, %v", ok, err)
	}
	if err := env.Client.Delete(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if ok, err := g.Active(ctx, conn.Name); ok || err != nil {
			t.Fatalf("a deleted grant: active %v, %v", ok, err)
		}
	}
	if direct.gets != 2 {
		t.Errorf("%d reads of the apiserver, want 2 (the deleted grant is remembered)", direct.gets)
	}
}
