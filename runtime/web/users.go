package web

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// StaticUsersKey is the key of the user list in the static users Secret.
const StaticUsersKey = "users.yaml"

// StaticUser is one entry of the static users Secret.
type StaticUser struct {
	Email        string   `json:"email"`
	PasswordHash string   `json:"passwordHash"`
	Groups       []string `json:"groups,omitempty"`
}

// Authenticator checks sign-in credentials.
type Authenticator interface {
	// Authenticate returns the session of valid credentials, or nil.
	Authenticate(ctx context.Context, email, password string) (*Session, error)
}

// StaticUsers signs users in against bcrypt hashes in a Secret (key
// users.yaml), read on every attempt so changes apply at once.
type StaticUsers struct {
	Reader    client.Reader
	Namespace string
	Name      string
}

// Authenticate compares the password with the user's bcrypt hash.
func (s StaticUsers) Authenticate(ctx context.Context, email, password string) (*Session, error) {
	secret := &corev1.Secret{}
	if err := s.Reader.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: s.Name}, secret); err != nil {
		return nil, fmt.Errorf("failed to read the static users Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	var users []StaticUser
	if err := yaml.UnmarshalStrict(secret.Data[StaticUsersKey], &users); err != nil {
		return nil, fmt.Errorf("invalid %s in Secret %s/%s: %w", StaticUsersKey, s.Namespace, s.Name, err)
	}
	for _, u := range users {
		if strings.EqualFold(u.Email, email) {
			if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
				return nil, nil
			}
			email := strings.ToLower(u.Email)
			return &Session{Subject: "static#" + email, Email: email, Groups: u.Groups}, nil
		}
	}
	// Spend the time of a comparison so the answer does not tell whether
	// the user exists.
	_ = bcrypt.CompareHashAndPassword([]byte("$2a$10$C6UzMDM.H6dfI/f/IKxGhuU9ZcX8tM8MJ5bS8qvJ6YhG2N5Jd5n1e"), []byte(password))
	return nil, nil
}
