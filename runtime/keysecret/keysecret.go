// Package keysecret keeps key material in a Secret that every runtime
// replica shares: created once by whichever replica comes first, re-read
// periodically so a rotation needs no restart.
package keysecret

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
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

// Poll re-reads the Secret every interval until ctx ends and hands it to
// apply. An error (a broken Secret) is logged and what is in force stays.
func Poll(ctx context.Context, r client.Reader, namespace, name string, interval time.Duration, apply func(*corev1.Secret) error, logErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		secret := &corev1.Secret{}
		err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret)
		if err == nil {
			err = apply(secret)
		}
		if err != nil {
			logErr(err)
		}
	}
}
