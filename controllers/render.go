package controllers

import (
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// Render returns what the operator writes for the given handles and clients,
// through the same builders the reconcilers use: the platform's objects, then
// each handle's (with its controller owner reference), then the Secret of
// each confidential client without its generated value. Hostname conflicts
// with routes outside the input cannot be seen offline.
func Render(cfg *platform.Config, s *runtime.Scheme, handles []mcpv1alpha1.Handle, clients []mcpv1alpha1.OAuthClient) ([]client.Object, error) {
	objs := PlatformObjects(cfg)
	for i := range handles {
		objs = append(objs, HandleObjects(cfg, &handles[i])...)
	}
	for i := range clients {
		if !clients[i].Confidential() {
			continue
		}
		secret, err := clientSecret(cfg, s, &clients[i])
		if err != nil {
			return nil, err
		}
		objs = append(objs, secret)
	}
	return objs, nil
}
