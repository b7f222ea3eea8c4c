package upstream

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/runtime/keysecret"
)

// DefaultSecretName is the Secret, in the platform namespace, holding the
// upstream token keys.
const DefaultSecretName = "mcp-runtime-upstream-keys"

// CurrentKeyAnnotation names the data key (the kid) of the key that signs;
// every other entry is still published and verifies. Without it the greatest
// kid signs. It is the same annotation as on the access-token keys Secret.
const CurrentKeyAnnotation = keysecret.CurrentKeyAnnotation

// keySet is one reading of the keys Secret: the signer of the current key
// and the public JWK Set of all of them.
type keySet struct {
	current string
	signer  jose.Signer
	jwks    []byte
}

// parseKeys reads every data entry of the Secret as a PEM EC P-256 private
// key (PKCS #8 or SEC 1) whose kid is the entry's name.
func parseKeys(secret *corev1.Secret) (*keySet, error) {
	if len(secret.Data) == 0 {
		return nil, fmt.Errorf("the upstream keys Secret %s/%s holds no key", secret.Namespace, secret.Name)
	}
	ids := make([]string, 0, len(secret.Data))
	for id := range secret.Data {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	current := ids[len(ids)-1]
	if c := secret.Annotations[CurrentKeyAnnotation]; c != "" {
		current = c
	}
	var set jose.JSONWebKeySet
	var currentKey *ecdsa.PrivateKey
	for _, id := range ids {
		key, err := parsePrivateKey(secret.Data[id])
		if err != nil {
			return nil, fmt.Errorf("invalid upstream keys Secret %s/%s: key %q: %w", secret.Namespace, secret.Name, id, err)
		}
		if id == current {
			currentKey = key
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: key.Public(), KeyID: id, Algorithm: string(jose.ES256), Use: "sig"})
	}
	if currentKey == nil {
		return nil, fmt.Errorf("invalid upstream keys Secret %s/%s: the current key %q (annotation %s) is not in the Secret",
			secret.Namespace, secret.Name, current, CurrentKeyAnnotation)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: currentKey, KeyID: current}},
		(&jose.SignerOptions{}).WithType(TokenType))
	if err != nil {
		return nil, fmt.Errorf("failed to create the upstream token signer: %w", err)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	return &keySet{current: current, signer: signer, jwks: jwks}, nil
}

func parsePrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not an EC P-256 private key")
	}
	return ec, nil
}

// NewKey returns a new kid and EC P-256 private key (PKCS #8 PEM), the shape
// of one entry of the keys Secret. Key ids sort by creation time.
func NewKey(now time.Time) (kid string, pemKey []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", nil, err
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	kid = "es256-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(suffix)
	return kid, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// NewKeySecret returns a keys Secret holding one new key, current.
func NewKeySecret(namespace, name string, now time.Time) (*corev1.Secret, error) {
	kid, key, err := NewKey(now)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Annotations: map[string]string{CurrentKeyAnnotation: kid}},
		Data:       map[string][]byte{kid: key},
	}, nil
}

// LoadMinter reads the keys Secret, creating it with one new key when it
// does not exist; replicas racing to create it all end up reading the one
// that won.
func LoadMinter(ctx context.Context, c client.Client, namespace, name, issuer string) (*Minter, error) {
	secret, err := keysecret.Load(ctx, c, namespace, name, func() (*corev1.Secret, error) { return NewKeySecret(namespace, name, time.Now()) })
	if err != nil {
		return nil, err
	}
	return NewMinter(issuer, secret)
}

// Watch applies every change of the Secret the informers see, so a rotated
// key is published and used without a restart. A broken Secret keeps the
// keys in force.
func (m *Minter) Watch(ctx context.Context, informers cache.Informers, namespace, name string, logErr func(error)) error {
	return keysecret.Watch(ctx, informers, namespace, name, m.Update, logErr)
}
