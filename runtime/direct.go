package runtime

import (
	"fmt"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// APITimeout bounds each direct apiserver request, so an unreachable or
// hanging apiserver turns a grant write into temporarily_unavailable within
// seconds instead of holding the client's request open.
const APITimeout = 5 * time.Second

// NewDirectClient returns the client for writes and for reads that must see
// other replicas' writes at once (grants). It does not go through the
// informer cache, and each request gives up after timeout. The informers keep
// their own configuration: a timeout there would cut their watches.
func NewDirectClient(cfg *rest.Config, scheme *k8sruntime.Scheme, timeout time.Duration) (client.Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = timeout
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("failed to create a client: %w", err)
	}
	return c, nil
}
