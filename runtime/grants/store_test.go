package grants

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunSuite(m, &env)) }

const (
	verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier"
	callback = "https://chatgpt.com/connector/oauth/cb_1"
)

func challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newStore returns a store on the real apiserver with a declared client.
func newStore(t *testing.T, now *time.Time) (*Store, *mcpv1alpha1.OAuthClient) {
	t.Helper()
	c := &mcpv1alpha1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "client-"},
		Spec:       mcpv1alpha1.OAuthClientSpec{Handle: "acme", ClientName: "ChatGPT", RedirectURIs: []mcpv1alpha1.RedirectURI{callback}},
	}
	if err := env.Client.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), c) })
	return &Store{Client: env.Client, Reader: env.Client, CodeTTL: time.Minute, Now: func() time.Time { return *now }}, c
}

func authorize(t *testing.T, s *Store, c *mcpv1alpha1.OAuthClient) string {
	t.Helper()
	code, err := s.Create(context.Background(), Request{
		Client: c, Handle: "acme", Subject: "static#alice@example.com", Email: "alice@example.com",
		Resource: "https://acme.mcp.10x.in/mcp", Scopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read"},
		CodeChallenge: challenge(verifier), RedirectURI: callback,
	})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func grantExists(t *testing.T, name string) bool {
	t.Helper()
	err := env.Client.Get(context.Background(), types.NamespacedName{Name: name}, &mcpv1alpha1.Connection{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestCodeThenRefreshRotation(t *testing.T) {
	now := time.Now()
	s, c := newStore(t, &now)
	ctx := context.Background()
	code := authorize(t, s, c)

	conn, refresh, err := s.ExchangeCode(ctx, code, c.Name, callback, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := TokenStateOf(conn); err != nil || st.AuthorizationCode != nil || st.RefreshTokenHash == "" {
		t.Errorf("token state after the exchange: %+v (%v)", st, err)
	}
	if strings.Contains(fmt.Sprintf("%+v", conn), refresh) || strings.Contains(fmt.Sprintf("%+v", conn), code) {
		t.Error("a token is stored in the grant instead of its hash")
	}
	if ref := conn.OwnerReferences; len(ref) != 1 || ref[0].UID != c.UID {
		t.Errorf("owner = %+v, want the client", ref)
	}

	_, second, err := s.Refresh(ctx, refresh, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	got, third, err := s.Refresh(ctx, second, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := TokenStateOf(got); st.RefreshCount != 2 || third == second {
		t.Errorf("refresh count %d; rotation returned the same token: %v", st.RefreshCount, third == second)
	}
	if _, _, err := s.Refresh(ctx, second, c.Name); !errors.Is(err, ErrRefreshReused) {
		t.Fatalf("an old refresh token: %v, want ErrRefreshReused", err)
	}
	if grantExists(t, conn.Name) {
		t.Error("reusing a refresh token did not revoke the grant")
	}
	if _, _, err := s.Refresh(ctx, third, c.Name); !errors.Is(err, ErrNotFound) {
		t.Errorf("the newest refresh token after revocation: %v, want ErrNotFound", err)
	}
}

// A refresh whose answer was lost (the replica died after the write) is
// retried with the token the client still has: within the retry window,
// and only until the newer token is used, that rotates again; any other
// reuse revokes the grant.
func TestRefreshRetryWindow(t *testing.T) {
	now := time.Now()
	s, c := newStore(t, &now)
	s.RefreshRetryWindow = time.Minute
	ctx := context.Background()
	exchange := func() (string, string) {
		t.Helper()
		conn, refresh, err := s.ExchangeCode(ctx, authorize(t, s, c), c.Name, callback, verifier)
		if err != nil {
			t.Fatal(err)
		}
		return conn.Name, refresh
	}

	// The answer of the first rotation is lost; the retry gets new tokens,
	// and the client goes on with them.
	name, first := exchange()
	if _, _, err := s.Refresh(ctx, first, c.Name); err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Second)
	_, retried, err := s.Refresh(ctx, first, c.Name)
	if err != nil {
		t.Fatalf("a retry within the window: %v", err)
	}
	if _, _, err := s.Refresh(ctx, retried, c.Name); err != nil {
		t.Fatalf("the retried refresh's token: %v", err)
	}
	// Once a newer token has been used, the first one is an old token.
	if _, _, err := s.Refresh(ctx, first, c.Name); !errors.Is(err, ErrRefreshReused) || grantExists(t, name) {
		t.Fatalf("the first token after its successor's successor was used: %v (grant kept: %v)", err, grantExists(t, name))
	}

	// After the window a replaced token revokes the grant.
	name, first = exchange()
	if _, _, err := s.Refresh(ctx, first, c.Name); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if _, _, err := s.Refresh(ctx, first, c.Name); !errors.Is(err, ErrRefreshReused) || grantExists(t, name) {
		t.Fatalf("a replaced token after the window: %v (grant kept: %v)", err, grantExists(t, name))
	}
}

func TestCodeRefusals(t *testing.T) {
	now := time.Now()
	s, c := newStore(t, &now)
	ctx := context.Background()
	cases := []struct {
		name                       string
		client, redirect, verifier string
		advance                    time.Duration
		want                       error
	}{
		{"wrong verifier", c.Name, callback, strings.Repeat("x", 43), 0, ErrPKCE},
		{"short verifier", c.Name, callback, "short", 0, ErrPKCE},
		{"other redirect", c.Name, callback + "/", verifier, 0, ErrRedirectURI},
		{"other client", "someone-else", callback, verifier, 0, ErrInvalidCode},
		{"expired", c.Name, callback, verifier, 2 * time.Minute, ErrInvalidCode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now = time.Now()
			code := authorize(t, s, c)
			now = now.Add(tc.advance)
			if _, _, err := s.ExchangeCode(ctx, code, tc.client, tc.redirect, tc.verifier); !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
		})
	}
	if _, _, err := s.ExchangeCode(ctx, "mcpc1_nonexistent."+strings.Repeat("A", 43), c.Name, callback, verifier); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown grant: %v", err)
	}
	if _, _, err := s.ExchangeCode(ctx, "not-a-code", c.Name, callback, verifier); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("garbage code: %v", err)
	}
}

func TestReusedCodeRevokes(t *testing.T) {
	now := time.Now()
	s, c := newStore(t, &now)
	ctx := context.Background()
	code := authorize(t, s, c)
	conn, _, err := s.ExchangeCode(ctx, code, c.Name, callback, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ExchangeCode(ctx, code, c.Name, callback, verifier); !errors.Is(err, ErrCodeReused) {
		t.Fatalf("second exchange: %v, want ErrCodeReused", err)
	}
	if grantExists(t, conn.Name) {
		t.Error("a reused code did not revoke what it issued")
	}
}

// TestConcurrentExchange races two redemptions of one code, as two replicas
// would: exactly one succeeds, and the other is judged a reuse.
func TestConcurrentExchange(t *testing.T) {
	now := time.Now()
	s, c := newStore(t, &now)
	code := authorize(t, s, c)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = s.ExchangeCode(context.Background(), code, c.Name, callback, verifier)
		}()
	}
	wg.Wait()
	ok, reused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrCodeReused), errors.Is(err, ErrNotFound):
			reused++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || reused != 1 {
		t.Errorf("%d succeeded and %d were refused as reuse; want 1 and 1", ok, reused)
	}
}

func TestVerifyPKCE(t *testing.T) {
	// RFC 7636 appendix B.
	if !VerifyPKCE("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM") {
		t.Error("the RFC 7636 example does not verify")
	}
	if VerifyPKCE("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") {
		t.Error("a plain challenge verifies")
	}
}

func TestRecordDiscovery(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s, c := newStore(t, &now)
	conn, _ := tokens.ParseOpaque(tokens.CodePrefix, authorize(t, s, c))
	count := func() *mcpv1alpha1.Connection {
		got := &mcpv1alpha1.Connection{}
		if err := env.Client.Get(ctx, types.NamespacedName{Name: conn}, got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if err := s.RecordDiscovery(ctx, conn, 0, errors.New("toolset links: connection refused")); err != nil {
		t.Fatal(err)
	}
	got := count()
	ready := meta.FindStatusCondition(got.Status.Conditions, mcpv1alpha1.ConnectionConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || got.Status.Bootstrap.LastError != "toolset links: connection refused" {
		t.Fatalf("after a failed discovery: %+v %+v", ready, got.Status.Bootstrap)
	}
	if err := s.RecordDiscovery(ctx, conn, 3, nil); err != nil {
		t.Fatal(err)
	}
	got = count()
	ready = meta.FindStatusCondition(got.Status.Conditions, mcpv1alpha1.ConnectionConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || *got.Status.Bootstrap.ToolCount != 3 || got.Status.Bootstrap.LastError != "" {
		t.Fatalf("after a discovery: %+v %+v", ready, got.Status.Bootstrap)
	}
	// The same result again within the interval writes nothing.
	version := got.ResourceVersion
	now = now.Add(time.Minute)
	if err := s.RecordDiscovery(ctx, conn, 3, nil); err != nil || count().ResourceVersion != version {
		t.Errorf("an unchanged discovery wrote the grant (%v)", err)
	}
	// A grant revoked meanwhile is not an error.
	if err := s.Revoke(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordDiscovery(ctx, conn, 3, nil); err != nil {
		t.Errorf("discovery on a revoked grant: %v", err)
	}
}

// A grant a runtime before the token-state annotation wrote keeps its state
// in status: its tokens keep working, its next token write moves the state
// to the annotation and clears status, and reuse detection still holds.
func TestLegacyStatusGrantKeepsWorking(t *testing.T) {
	now := time.Now()
	s, c := newStore(t, &now)
	ctx := context.Background()
	name := "conn-legacy-" + strings.ToLower(tokens.RandomID()[:8])
	code, codeHash := tokens.NewOpaque(tokens.CodePrefix, name)
	refresh, refreshHash := tokens.NewOpaque(tokens.RefreshPrefix, name)
	conn := &mcpv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: mcpv1alpha1.ConnectionSpec{
		Handle: "acme", ClientID: c.Name, Subject: "static#alice@example.com", Resource: "https://acme.mcp.10x.in/mcp", Scopes: []mcpv1alpha1.Scope{"mcp.connect"}}}
	if err := env.Client.Create(ctx, conn); err != nil {
		t.Fatal(err)
	}
	conn.Status.RefreshTokenHash, conn.Status.ConsumedCodeHash, conn.Status.RefreshCount = refreshHash, codeHash, 4
	if err := env.Client.Status().Update(ctx, conn); err != nil {
		t.Fatal(err)
	}

	got, next, err := s.Refresh(ctx, refresh, c.Name)
	if err != nil {
		t.Fatalf("refresh of a grant with its state in status: %v", err)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: name}, got); err != nil {
		t.Fatal(err)
	}
	st, err := TokenStateOf(got)
	if err != nil || st.RefreshCount != 5 || st.ConsumedCodeHash != codeHash || !tokens.HashEqual(next, st.RefreshTokenHash) {
		t.Errorf("token state after the move: %+v (%v)", st, err)
	}
	if legacyTokenState(&got.Status) != (TokenState{}) {
		t.Errorf("status still holds token state: %+v", got.Status)
	}
	if _, _, err := s.ExchangeCode(ctx, code, c.Name, callback, verifier); !errors.Is(err, ErrCodeReused) || grantExists(t, name) {
		t.Errorf("the redeemed code again: %v (grant kept: %v)", err, grantExists(t, name))
	}
}
