package upstream

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// TestReplicasCreateOneSecret starts a real apiserver: replicas that find no
// Secret race to create it, and all of them end up with the winner's keys,
// so a token minted by one verifies with the JWK Set of any other. Then a
// rotation written to the Secret reaches a replica through Refresh.
func TestReplicasCreateOneSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	c := env.Client
	const ns = "mcp-system"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	// Every replica's first read waits for the others', so all of them find
	// no Secret and all try to create it.
	const replicas = 6
	var reads, conflicts atomic.Int32
	var allRead sync.WaitGroup
	allRead.Add(replicas)
	ww, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	racing := interceptor.NewClient(ww, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			err := c.Get(ctx, key, obj, opts...)
			if reads.Add(1) <= replicas {
				allRead.Done()
				allRead.Wait()
			}
			return err
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			err := c.Create(ctx, obj, opts...)
			if apierrors.IsAlreadyExists(err) {
				conflicts.Add(1)
			}
			return err
		},
	})
	minters := make([]*Minter, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { minters[i], errs[i] = LoadMinter(ctx, racing, ns, DefaultSecretName, issuer) })
	}
	wg.Wait()
	if n := conflicts.Load(); n != replicas-1 {
		t.Errorf("%d creations lost the race, want %d", n, replicas-1)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: DefaultSecretName}, secret); err != nil {
		t.Fatal(err)
	}
	if len(secret.Data) != 1 {
		t.Fatalf("the Secret holds %d keys", len(secret.Data))
	}
	kid := secret.Annotations[CurrentKeyAnnotation]
	for i, m := range minters {
		if m.CurrentKeyID() != kid {
			t.Errorf("replica %d signs with %s, the Secret's current key is %s", i, m.CurrentKeyID(), kid)
		}
		if string(m.JWKS()) != string(minters[0].JWKS()) {
			t.Errorf("replica %d publishes other keys", i)
		}
	}
	token, err := minters[1].Mint(audience, claims, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(token, minters[replicas-1].JWKS(), audience, time.Now()); err != nil {
		t.Errorf("a token of one replica fails with another's keys: %v", err)
	}

	// Rotate in the apiserver; replica 0 picks it up from its watch without
	// a restart.
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	informers, err := cache.New(env.Config, cache.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := minters[0].Watch(watchCtx, informers, ns, DefaultSecretName, func(err error) { t.Error(err) }); err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(watchCtx) }()
	if !informers.WaitForCacheSync(watchCtx) {
		t.Fatal("the informers did not sync")
	}
	newKID, key, err := NewKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secret.Data[newKID] = key
	secret.Annotations[CurrentKeyAnnotation] = newKID
	if err := c.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	waitfor.Eventually(t, 10*time.Second, "the rotation reaches the replica", func() error {
		if id := minters[0].CurrentKeyID(); id != newKID {
			return fmt.Errorf("current key %s", id)
		}
		return nil
	})
	if _, err := verify(token, minters[0].JWKS(), audience, time.Now()); err != nil {
		t.Errorf("a token of the old key fails after the rotation: %v", err)
	}
}
