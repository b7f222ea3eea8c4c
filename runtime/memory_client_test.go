package runtime_test

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// memoryClient keeps objects in a map with resource versions, for benchmarks
// that must measure the runtime and not the apiserver. Reads deep-copy like
// the informer cache; writes check resource versions like the apiserver.
// controller-runtime's fake client is no substitute: it rebuilds a REST
// mapper on every update and would dominate the measurement.
type memoryClient struct {
	client.Client // unimplemented methods panic
	mu            sync.Mutex
	objects       map[string]client.Object
	version       int
}

func newMemoryClient(objs ...client.Object) *memoryClient {
	m := &memoryClient{objects: map[string]client.Object{}}
	for _, o := range objs {
		if err := m.Create(context.Background(), o); err != nil {
			panic(err)
		}
	}
	return m
}

func memoryKey(o client.Object, key client.ObjectKey) string {
	return fmt.Sprintf("%T/%s/%s", o, key.Namespace, key.Name)
}

func (m *memoryClient) Get(_ context.Context, key client.ObjectKey, o client.Object, _ ...client.GetOption) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.objects[memoryKey(o, key)]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: fmt.Sprintf("%T", o)}, key.Name)
	}
	reflect.ValueOf(o).Elem().Set(reflect.ValueOf(stored.DeepCopyObject()).Elem())
	return nil
}

func (m *memoryClient) Create(_ context.Context, o client.Object, _ ...client.CreateOption) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memoryKey(o, client.ObjectKeyFromObject(o))
	if _, ok := m.objects[k]; ok {
		return apierrors.NewAlreadyExists(schema.GroupResource{Resource: fmt.Sprintf("%T", o)}, o.GetName())
	}
	m.store(k, o)
	return nil
}

func (m *memoryClient) Update(_ context.Context, o client.Object, _ ...client.UpdateOption) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memoryKey(o, client.ObjectKeyFromObject(o))
	stored, ok := m.objects[k]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: fmt.Sprintf("%T", o)}, o.GetName())
	}
	if stored.GetResourceVersion() != o.GetResourceVersion() {
		return apierrors.NewConflict(schema.GroupResource{Resource: fmt.Sprintf("%T", o)}, o.GetName(), fmt.Errorf("resource version changed"))
	}
	m.store(k, o)
	return nil
}

func (m *memoryClient) Delete(_ context.Context, o client.Object, _ ...client.DeleteOption) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memoryKey(o, client.ObjectKeyFromObject(o))
	if _, ok := m.objects[k]; !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: fmt.Sprintf("%T", o)}, o.GetName())
	}
	delete(m.objects, k)
	return nil
}

// store keeps a copy with the next resource version, written back to o.
func (m *memoryClient) store(k string, o client.Object) {
	m.version++
	o.SetResourceVersion(strconv.Itoa(m.version))
	m.objects[k] = o.DeepCopyObject().(client.Object)
}

// Status updates the whole object: the benchmarks write status only with
// Update.
func (m *memoryClient) Status() client.SubResourceWriter { return memoryStatus{m: m} }

type memoryStatus struct {
	client.SubResourceWriter // unimplemented methods panic
	m                        *memoryClient
}

func (s memoryStatus) Update(ctx context.Context, o client.Object, _ ...client.SubResourceUpdateOption) error {
	return s.m.Update(ctx, o)
}
