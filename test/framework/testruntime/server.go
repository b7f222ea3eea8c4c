package testruntime

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/registry"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
)

// NewServer returns the authorization server of one in-process replica,
// wired as cmd/runtime wires it: objects read through reader (the
// apiserver, or an informer cache), grants and registrations written
// through c, static-user sign-in from the Secret users of the platform
// namespace, and the signing keys Secret every replica shares (created when
// missing). Apply MCP for the MCP endpoint.
func NewServer(t testing.TB, cfg *platform.Config, reader client.Reader, c client.Client, users string) *runtime.Server {
	t.Helper()
	keys, err := runtime.LoadKeyRing(context.Background(), c, cfg.Namespace, "mcp-runtime-signing-keys")
	if err != nil {
		t.Fatal(err)
	}
	cluster := runtime.Cluster{Reader: reader, Namespace: cfg.Namespace}
	return &runtime.Server{
		Config: cfg, Handles: cluster, Clients: cluster, Secrets: cluster,
		Users:    web.StaticUsers{Reader: reader, Namespace: cfg.Namespace, Name: users},
		Grants:   &grants.Store{Client: c, Reader: c, CodeTTL: time.Minute, Now: time.Now},
		Registry: &registry.Registry{Client: c, Reader: reader, Config: cfg, Namespace: cfg.Namespace},
		Keys:     keys, AccessTTL: time.Hour, SessionTTL: time.Hour, Now: time.Now,
	}
}
