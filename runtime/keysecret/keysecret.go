// Package keysecret keeps key material in a Secret that every runtime
// replica shares: created once by whichever replica comes first, watched so
// a rotation needs no restart.
package keysecret

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CurrentKeyAnnotation names the data key of the signing key in a keys
// Secret; every other entry still verifies.
const CurrentKeyAnnotation = "mcp.10x.in/current-key"

// Load reads the Secret, creating it from newSecret when it does not exist;
// replicas racing to create it all end up reading the one that won.
func Load(ctx context.Context, c client.Client, namespace, name string, newSecret func() (*corev1.Secret, error)) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: namespace, Name: name}
	err := c.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		if secret, err = newSecret(); err != nil {
			return nil, err
		}
		if err = c.Create(ctx, secret); apierrors.IsAlreadyExists(err) {
			secret = &corev1.Secret{}
			err = c.Get(ctx, key, secret)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the keys Secret %s: %w", key, err)
	}
	return secret, nil
}

// Watch hands the Secret to apply whenever the informer sees it created or
// changed, until the informers stop: every replica uses a rotated key
// within the watch's latency, not at its next poll. An error (a broken
// Secret) is logged and what is in force stays.
func Watch(ctx context.Context, informers cache.Informers, namespace, name string, apply func(*corev1.Secret) error, logErr func(error)) error {
	inf, err := informers.GetInformer(ctx, &corev1.Secret{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("failed to watch the keys Secret %s/%s: %w", namespace, name, err)
	}
	handle := func(obj any) {
		secret, ok := obj.(*corev1.Secret)
		if !ok || secret.Namespace != namespace || secret.Name != name {
			return
		}
		if err := apply(secret); err != nil {
			logErr(err)
		}
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: handle, UpdateFunc: func(_, obj any) { handle(obj) }})
	return err
}
