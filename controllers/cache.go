package controllers

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// getCached reads one object, returning nil when it does not exist.
func getCached[T any, PT interface {
	*T
	client.Object
}](ctx context.Context, c client.Client, namespace, name string) (*T, error) {
	obj := PT(new(T))
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to read %s/%s: %w", namespace, name, err)
	}
	return (*T)(obj), nil
}

// getCachedObject reads the current version of desired's object, or nil.
func getCachedObject(ctx context.Context, c client.Client, desired ownedApply) (client.Object, error) {
	obj, err := emptyObject(desired)
	if err != nil {
		return nil, err
	}
	ns, name := *desired.GetNamespace(), *desired.GetName()
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to read %s/%s: %w", ns, name, err)
	}
	return obj, nil
}

// isNotWatched reports an error of a cache that does not hold the kind.
func isNotWatched(err error) bool {
	var e *cache.ErrResourceNotCached
	return errors.As(err, &e)
}
