// Package grants keeps the authorization server's grants as Connection
// objects, one per approval, updated with optimistic concurrency
// (resourceVersion) so any runtime replica can serve any step of a flow, and
// deleted to revoke. Token state lives in an annotation (TokenStateAnnotation),
// what the runtime observed (step-up, bootstrap) in status.
package grants

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/audit"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// Errors of the store. Each maps to an OAuth invalid_grant; the reuse errors
// have revoked the grant.
var (
	ErrNotFound      = errors.New("the grant does not exist or was revoked")
	ErrInvalidCode   = errors.New("the authorization code is invalid, expired or was issued to another client")
	ErrCodeReused    = errors.New("the authorization code was already used; the grant is revoked")
	ErrPKCE          = errors.New("code_verifier does not match the code challenge")
	ErrRedirectURI   = errors.New("redirect_uri differs from the authorization request")
	ErrRefreshReused = errors.New("the refresh token was already used; the grant is revoked")
	ErrWrongClient   = errors.New("the token was issued to another client")
	// ErrAlreadyApproved refuses an approval submitted again after its code
	// was redeemed (or for another handle): it never makes a second grant.
	ErrAlreadyApproved = errors.New("this authorization request was already approved; start the connection again from your MCP client")
)

// LabelHandle lets the grants of a handle be listed.
const LabelHandle = mcpv1alpha1.LabelHandle

// Request is an approved authorization request.
type Request struct {
	// ID identifies the authorization request (the runtime uses the sealed
	// request the consent form carries): approving the same request again
	// gives the same grant. Empty makes every approval a new grant.
	ID            string
	Client        *mcpv1alpha1.OAuthClient
	Handle        string
	Subject       string
	Email         string
	Resource      string
	Scopes        []mcpv1alpha1.Scope
	CodeChallenge string
	RedirectURI   string
}

// Store reads and writes grants. Reader should read from the apiserver
// directly: a code or refresh token may have been written by another replica
// a moment ago.
type Store struct {
	Client client.Client
	Reader client.Reader
	// CodeTTL is how long an authorization code is valid.
	CodeTTL time.Duration
	// RefreshRetryWindow is how long a rotated refresh token may be
	// presented again, as long as its successor has not been used: a client
	// whose refresh answer was lost (a replica killed after the write)
	// retries with the token it has. Zero makes every reuse revoke.
	RefreshRetryWindow time.Duration
	// Now is the clock, for tests.
	Now func() time.Time
	// Audit records grants created, refreshed, reused and revoked; nil
	// records nothing.
	Audit *audit.Auditor
}

// Create records an approved grant with its pending authorization code and
// returns the code. The grant is owned by its client, so deleting the client
// deletes its grants; a client that is no object (an undeclared client ID
// metadata document client) owns nothing, and its grants live until revoked
// or deleted.
//
// An approval is idempotent per request ID and user: a consent form
// submitted twice (a double click, a reload) makes one grant, whose pending
// code the second submission replaces, so the redirect the browser follows
// last carries a valid code. Once that code is redeemed a further
// submission is refused with ErrAlreadyApproved.
func (s *Store) Create(ctx context.Context, req Request) (string, error) {
	name := grantName(req)
	conn := &mcpv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{LabelHandle: req.Handle},
		},
		Spec: mcpv1alpha1.ConnectionSpec{
			Handle: req.Handle, ClientID: req.Client.ClientID(), Subject: req.Subject, Email: req.Email,
			Resource: req.Resource, Scopes: req.Scopes,
		},
	}
	if req.Client.UID != "" {
		conn.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: mcpv1alpha1.GroupVersion.String(), Kind: "OAuthClient", Name: req.Client.Name, UID: req.Client.UID,
		}}
	}
	var st TokenState
	code := s.issueCode(&st, conn.Name, req)
	if err := SetTokenState(conn, st); err != nil {
		return "", err
	}
	err := s.Client.Create(ctx, conn)
	if err == nil {
		s.Audit.Grant(ctx, audit.GrantCreated, conn, "")
		return code, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("failed to record the grant: %w", err)
	}
	_, code, err = s.updateTokens(ctx, name, func(c *mcpv1alpha1.Connection, st *TokenState) (string, error) {
		if c.Spec.Handle != req.Handle || c.Spec.ClientID != req.Client.ClientID() || c.Spec.Subject != req.Subject ||
			st.ConsumedCodeHash != "" || st.RefreshTokenHash != "" {
			return "", ErrAlreadyApproved
		}
		return s.issueCode(st, c.Name, req), nil
	})
	return code, err
}

// grantName names the grant of an approval: derived from the request and
// the user when the request has an ID, so a second submission finds the
// first one's grant.
func grantName(req Request) string {
	if req.ID == "" {
		return "conn-" + tokens.RandomID()
	}
	sum := sha256.Sum256([]byte(req.ID + "\x00" + req.Subject))
	return "conn-" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:10]))
}

// issueCode sets a new pending authorization code of the grant and returns
// it; a code issued before for the same grant stops being accepted.
func (s *Store) issueCode(st *TokenState, grant string, req Request) string {
	code, hash := tokens.NewOpaque(tokens.CodePrefix, grant)
	expires := metav1.NewTime(s.Now().Add(s.CodeTTL))
	st.AuthorizationCode = &mcpv1alpha1.AuthorizationCodeState{
		Hash: hash, ExpiresAt: &expires, CodeChallenge: req.CodeChallenge, RedirectURI: req.RedirectURI,
	}
	return code
}

// ExchangeCode redeems an authorization code once and returns the grant
// with its first refresh token. A second redemption revokes the grant.
func (s *Store) ExchangeCode(ctx context.Context, code, clientID, redirectURI, verifier string) (*mcpv1alpha1.Connection, string, error) {
	name, ok := tokens.ParseOpaque(tokens.CodePrefix, code)
	if !ok {
		return nil, "", ErrInvalidCode
	}
	return s.updateTokens(ctx, name, func(conn *mcpv1alpha1.Connection, st *TokenState) (string, error) {
		if st.ConsumedCodeHash != "" && tokens.HashEqual(code, st.ConsumedCodeHash) {
			return "", ErrCodeReused
		}
		pending := st.AuthorizationCode
		if pending == nil || !tokens.HashEqual(code, pending.Hash) || !s.Now().Before(pending.ExpiresAt.Time) || conn.Spec.ClientID != clientID {
			return "", ErrInvalidCode
		}
		if redirectURI != pending.RedirectURI {
			return "", ErrRedirectURI
		}
		if !VerifyPKCE(verifier, pending.CodeChallenge) {
			return "", ErrPKCE
		}
		refresh, hash := tokens.NewOpaque(tokens.RefreshPrefix, conn.Name)
		st.AuthorizationCode = nil
		st.ConsumedCodeHash = tokens.Hash(code)
		st.RefreshTokenHash = hash
		return refresh, nil
	})
}

// Refresh rotates a refresh token. Presenting a token that is not the
// current one revokes the grant, unless it is the one the last rotation
// replaced, within RefreshRetryWindow (a retried refresh).
func (s *Store) Refresh(ctx context.Context, refreshToken, clientID string) (*mcpv1alpha1.Connection, string, error) {
	name, ok := tokens.ParseOpaque(tokens.RefreshPrefix, refreshToken)
	if !ok {
		return nil, "", ErrNotFound
	}
	conn, refresh, err := s.updateTokens(ctx, name, func(conn *mcpv1alpha1.Connection, st *TokenState) (string, error) {
		if conn.Spec.ClientID != clientID {
			return "", ErrWrongClient
		}
		now := metav1.NewTime(s.Now())
		current := tokens.HashEqual(refreshToken, st.RefreshTokenHash)
		retry := !current && st.PreviousRefreshTokenHash != "" && tokens.HashEqual(refreshToken, st.PreviousRefreshTokenHash) &&
			st.PreviousRefreshTokenExpiresAt != nil && now.Before(st.PreviousRefreshTokenExpiresAt)
		if !current && !retry {
			return "", ErrRefreshReused
		}
		if err := stepUpPending(conn, now.Time); err != nil {
			return "", err
		}
		// A retry keeps the window it was given: the token it replaces was
		// never received.
		if current && s.RefreshRetryWindow > 0 {
			expires := metav1.NewTime(now.Add(s.RefreshRetryWindow))
			st.PreviousRefreshTokenHash, st.PreviousRefreshTokenExpiresAt = st.RefreshTokenHash, &expires
		}
		refresh, hash := tokens.NewOpaque(tokens.RefreshPrefix, conn.Name)
		st.RefreshTokenHash = hash
		st.RefreshCount++
		st.LastRefreshTime = &now
		return refresh, nil
	})
	if err == nil {
		s.Audit.Grant(ctx, audit.GrantRefreshed, conn, "")
	}
	return conn, refresh, err
}

// Revoke deletes a grant; every token issued from it stops working.
func (s *Store) Revoke(ctx context.Context, name string) error {
	return s.RevokeFor(ctx, name, "")
}

// RevokeFor revokes a grant only when it belongs to the client ("" is any
// client). The grant is read first, so the audit trail names its handle,
// client and user.
func (s *Store) RevokeFor(ctx context.Context, name, clientID string) error {
	conn := &mcpv1alpha1.Connection{}
	if err := s.Reader.Get(ctx, types.NamespacedName{Name: name}, conn); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to read grant %s: %w", name, err)
	}
	if clientID != "" && conn.Spec.ClientID != clientID {
		return nil
	}
	return s.revoke(ctx, conn, "")
}

// revoke deletes a grant read before; one another request deleted first is
// not audited again.
func (s *Store) revoke(ctx context.Context, conn *mcpv1alpha1.Connection, note string) error {
	if err := s.Client.Delete(ctx, conn); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to revoke grant %s: %w", conn.Name, err)
	}
	s.Audit.Grant(ctx, audit.GrantRevoked, conn, note)
	return nil
}

// updateTokens applies change to a grant's token state and writes it to the
// annotation: a write of the object, whose resourceVersion also covers its
// status, so a redemption or rotation racing any other write of the grant
// is judged again against what it raced with.
func (s *Store) updateTokens(ctx context.Context, name string, change func(*mcpv1alpha1.Connection, *TokenState) (string, error)) (*mcpv1alpha1.Connection, string, error) {
	return s.update(ctx, name, func(conn *mcpv1alpha1.Connection) (string, error) {
		st, err := TokenStateOf(conn)
		if err != nil {
			return "", err
		}
		token, err := change(conn, &st)
		if err != nil {
			return "", err
		}
		return token, SetTokenState(conn, st)
	}, s.writeTokens)
}

// writeTokens writes the object (annotations), then clears token state a
// runtime before it kept in status. That second write may fail (a conflict)
// without harm: the annotation wins, and the next token write tries again.
func (s *Store) writeTokens(ctx context.Context, conn *mcpv1alpha1.Connection) error {
	legacy := legacyTokenState(&conn.Status) != TokenState{}
	if err := s.Client.Update(ctx, conn); err != nil {
		return err
	}
	if legacy {
		clearLegacyTokenState(&conn.Status)
		_ = s.Client.Status().Update(ctx, conn)
	}
	return nil
}

// updateStatus applies change to what a grant's status records.
func (s *Store) updateStatus(ctx context.Context, name string, change func(*mcpv1alpha1.Connection) (string, error)) (*mcpv1alpha1.Connection, string, error) {
	return s.update(ctx, name, change, func(ctx context.Context, conn *mcpv1alpha1.Connection) error {
		return s.Client.Status().Update(ctx, conn)
	})
}

// update applies change to the current version of a grant and writes it
// with optimistic concurrency, retrying on conflicts so a concurrent
// redemption is judged against the state it raced with. A reuse error
// revokes the grant.
func (s *Store) update(ctx context.Context, name string, change func(*mcpv1alpha1.Connection) (string, error),
	write func(context.Context, *mcpv1alpha1.Connection) error) (*mcpv1alpha1.Connection, string, error) {
	for attempt := 0; ; attempt++ {
		conn := &mcpv1alpha1.Connection{}
		if err := s.Reader.Get(ctx, types.NamespacedName{Name: name}, conn); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, "", ErrNotFound
			}
			return nil, "", fmt.Errorf("failed to read grant %s: %w", name, err)
		}
		token, err := change(conn)
		if errors.Is(err, ErrCodeReused) || errors.Is(err, ErrRefreshReused) {
			s.Audit.Grant(ctx, audit.GrantReuseDetected, conn, reuseOf(err))
			if rerr := s.revoke(ctx, conn, "reuse detected"); rerr != nil {
				return nil, "", rerr
			}
			return nil, "", err
		}
		if err != nil {
			return nil, "", err
		}
		err = write(ctx, conn)
		if err == nil {
			return conn, token, nil
		}
		if !apierrors.IsConflict(err) || attempt == 4 {
			return nil, "", fmt.Errorf("failed to update grant %s: %w", name, err)
		}
	}
}

// reuseOf says what was presented again.
func reuseOf(err error) string {
	if errors.Is(err, ErrCodeReused) {
		return "authorization code presented again"
	}
	return "refresh token presented again"
}

// VerifyPKCE checks an RFC 7636 code_verifier against an S256 challenge.
func VerifyPKCE(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}
