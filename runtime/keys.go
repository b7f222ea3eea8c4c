package runtime

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/runtime/keysecret"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// CurrentKeyAnnotation names the data key of the signing key in the keys
// Secret; every other entry still verifies. Without it the greatest key id
// signs.
const CurrentKeyAnnotation = keysecret.CurrentKeyAnnotation

// KeyRing holds the runtime's signing keys, read from a Secret that every
// replica shares, and swaps them when the Secret changes.
type KeyRing struct {
	keys atomic.Pointer[tokens.KeySet]
}

// Keys returns the keys in force.
func (k *KeyRing) Keys() *tokens.KeySet { return k.keys.Load() }

// LoadKeyRing reads the keys Secret, creating it with one random key when it
// does not exist (replicas racing to create it all end up reading the one
// that won).
func LoadKeyRing(ctx context.Context, c client.Client, namespace, name string) (*KeyRing, error) {
	secret, err := keysecret.Load(ctx, c, namespace, name, func() (*corev1.Secret, error) { return newKeySecret(namespace, name), nil })
	if err != nil {
		return nil, err
	}
	ring := &KeyRing{}
	if err := ring.update(secret); err != nil {
		return nil, err
	}
	return ring, nil
}

// Watch applies every change of the Secret the informers see, so a rotated
// key is used without a restart. A broken Secret keeps the keys in force.
func (k *KeyRing) Watch(ctx context.Context, informers cache.Informers, namespace, name string, logErr func(error)) error {
	return keysecret.Watch(ctx, informers, namespace, name, k.update, logErr)
}

func (k *KeyRing) update(secret *corev1.Secret) error {
	var keys []tokens.Key
	var ids []string
	for id, v := range secret.Data {
		keys = append(keys, tokens.Key{ID: id, Secret: v})
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return fmt.Errorf("the signing keys Secret %s/%s holds no key", secret.Namespace, secret.Name)
	}
	slices.Sort(ids)
	current := ids[len(ids)-1]
	if c := secret.Annotations[CurrentKeyAnnotation]; c != "" {
		current = c
	}
	ks, err := tokens.NewKeySet(current, keys...)
	if err != nil {
		return fmt.Errorf("invalid signing keys Secret %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	k.keys.Store(ks)
	return nil
}

func newKeySecret(namespace, name string) *corev1.Secret {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	id := "k" + time.Now().UTC().Format("20060102150405")
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Annotations: map[string]string{CurrentKeyAnnotation: id}},
		Data:       map[string][]byte{id: b},
	}
}
