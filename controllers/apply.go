package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// applier server-side applies the apply configurations of the objects the
// operator owns, under its field manager with forced ownership, so hand
// edits of owned fields are reverted and fields a newer operator no longer
// sets are removed. It remembers, per object, the resourceVersion its last
// apply left and a hash of that request (as cluster-api's SSA cache does):
// while the cached object still has that version and the request is the
// same, nothing can have changed and the apply is skipped. Any other write
// (a hand edit, a status update) changes the version and costs one apply.
// The zero value is ready to use.
type applier struct {
	mu   sync.Mutex
	last map[string]lastApply
}

type lastApply struct {
	resourceVersion string
	request         [sha256.Size]byte
}

// apply applies desired unless existing (the cached object, nil when
// missing) is what the same request left last time. It returns the object
// as the apiserver answered (nil when skipped) and whether the apply changed
// it: a cache that has not yet seen the previous apply is no change.
func (a *applier) apply(ctx context.Context, c client.Client, desired ownedApply, existing client.Object) (client.Object, bool, error) {
	body, err := json.Marshal(desired)
	if err != nil {
		return nil, false, fmt.Errorf("failed to encode %s %s: %w", *desired.GetKind(), *desired.GetName(), err)
	}
	request := sha256.Sum256(body)
	key := applyKey(desired)
	a.mu.Lock()
	last, seen := a.last[key]
	a.mu.Unlock()
	if existing != nil && seen && last.resourceVersion == existing.GetResourceVersion() && last.request == request {
		return nil, false, nil
	}
	// Apply decodes the answer into desired.
	if err := c.Apply(ctx, desired, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return nil, false, fmt.Errorf("failed to apply %s %s/%s: %w", *desired.GetKind(), *desired.GetNamespace(), *desired.GetName(), err)
	}
	applied, err := typedObject(desired)
	if err != nil {
		return nil, false, err
	}
	a.mu.Lock()
	if a.last == nil {
		a.last = map[string]lastApply{}
	}
	a.last[key] = lastApply{resourceVersion: applied.GetResourceVersion(), request: request}
	a.mu.Unlock()
	before, after := "", applied.GetResourceVersion()
	if existing != nil {
		before = existing.GetResourceVersion()
	}
	return applied, after != before && (!seen || after != last.resourceVersion), nil
}

// forget drops what the applier remembers of the objects, once their owner
// is gone: the memory holds the objects of existing handles only.
func (a *applier) forget(objs []ownedApply) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, o := range objs {
		delete(a.last, applyKey(o))
	}
}

func applyKey(o ownedApply) string {
	return *o.GetAPIVersion() + "/" + *o.GetKind() + "/" + *o.GetNamespace() + "/" + *o.GetName()
}

// deleteIfExists deletes obj, treating not-found as success.
func deleteIfExists(ctx context.Context, c client.Client, obj client.Object) error {
	if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to delete %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
