package runtime_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/oauth"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// TestMetadataDocumentClientFlow runs client ID metadata document clients
// through both replicas: an undeclared one (a client that exists only in
// memory, bound per grant), one pinned by a declared OAuthClient, and one
// whose document cannot be fetched.
func TestMetadataDocumentClientFlow(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	fetches := map[string]int{}
	var docs *httptest.Server
	docs = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetches[r.URL.Path]++
		mu.Unlock()
		id := docs.URL + r.URL.Path
		var body string
		switch r.URL.Path {
		case "/client.json":
			body = fmt.Sprintf(`{"client_id":%q,"client_name":"Evil <b>Corp</b>","redirect_uris":[%q],"token_endpoint_auth_method":"none"}`, id, callback)
		case "/pinned.json":
			body = fmt.Sprintf(`{"client_id":%q,"client_name":"Whatever","redirect_uris":[%q]}`, id, callback)
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(docs.Close)
	pool := x509.NewCertPool()
	pool.AddCert(docs.Certificate())
	s := newStack(t, func(srv *runtime.Server) {
		// Each replica has its own cache, as in production.
		srv.Clients = &oauth.MetadataDocumentClients{Clients: srv.Clients, Documents: &oauth.MetadataDocuments{
			AllowAddress: func(a netip.Addr) bool { return a.IsLoopback() },
			TLSConfig:    &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}}
	})
	verifier, challenge := pkce()
	docID := docs.URL + "/client.json"

	// An undeclared client: sign in, approve, redeem, refresh, revoke.
	authURL := authorizeURL(challenge, url.Values{"client_id": {docID}})
	loc := s.signInAndApprove(t, authURL)
	if !strings.HasPrefix(loc.String(), callback+"?") || loc.Query().Get("code") == "" || loc.Query().Get("state") != "xyz" {
		t.Fatalf("code redirect %s", loc)
	}
	status, tok := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {docID},
		"redirect_uri": {callback}, "code_verifier": {verifier}, "resource": {"https://acme.mcp.10x.in/mcp"}})
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	a, err := s.keys.Keys().VerifyAccess(tok["access_token"].(string), time.Now())
	if err != nil || a.Handle != "acme" || a.ClientID != docID {
		t.Fatalf("access token %+v (%v)", a, err)
	}
	var conn mcpv1alpha1.Connection
	if err := env.Client.Get(ctx, types.NamespacedName{Name: a.Grant}, &conn); err != nil {
		t.Fatal(err)
	}
	if conn.Spec.ClientID != docID || conn.Spec.Handle != "acme" || len(conn.OwnerReferences) != 0 {
		t.Errorf("grant %+v, owners %v; want the URL as client, acme, no owner", conn.Spec, conn.OwnerReferences)
	}
	status, rotated := s.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {docID}})
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, rotated)
	}
	resp, _ := s.do(t, "POST", "https://ai.10x.in/oauth/revoke", url.Values{"token": {rotated["refresh_token"].(string)}, "client_id": {docID}})
	if resp.StatusCode != http.StatusOK || grantExists(t, a.Grant) {
		t.Fatalf("revocation: %d, grant still there: %v", resp.StatusCode, grantExists(t, a.Grant))
	}
	// No OAuthClient was written for it.
	var all mcpv1alpha1.OAuthClientList
	if err := env.Client.List(ctx, &all); err != nil {
		t.Fatal(err)
	}
	for _, c := range all.Items {
		if c.ClientID() == docID {
			t.Errorf("an OAuthClient %s was written for the document", c.Name)
		}
	}

	// The consent page names the client by the document's (escaped) name
	// and its host; the session is kept, so authorize goes straight to it.
	resp, page := s.do(t, "GET", authorizeURL(challenge, url.Values{"client_id": {docID}, "resource": {"https://ai.10x.in/mcp"}}), nil)
	host := strings.TrimPrefix(docs.URL, "https://")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Evil &lt;b&gt;Corp&lt;/b&gt; ("+host+")") || strings.Contains(page, "<b>Corp") {
		t.Errorf("consent page %d:\n%s", resp.StatusCode, page)
	}
	mu.Lock()
	n := fetches["/client.json"]
	mu.Unlock()
	if n < 1 || n > 2 {
		t.Errorf("%d fetches of the document, want one per replica at most", n)
	}

	// A declared OAuthClient pins the document's client to acme, and only
	// redirect URIs both list may be used.
	pinnedID := docs.URL + "/pinned.json"
	pinned := &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "cimd-pinned"}, Spec: mcpv1alpha1.OAuthClientSpec{
		Handle: "acme", ClientName: "Pinned connector", Registration: mcpv1alpha1.RegistrationMetadataDocument, MetadataDocumentURL: pinnedID,
		RedirectURIs: []mcpv1alpha1.RedirectURI{callback, "https://elsewhere.example.com/cb"}}}
	if err := env.Client.Create(ctx, pinned); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), pinned) })
	resp, body := s.do(t, "GET", authorizeURL(challenge, url.Values{"client_id": {pinnedID}, "resource": {"https://ai.10x.in/mcp"}}), nil)
	if l, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || l == nil || l.Query().Get("error") != "invalid_target" {
		t.Errorf("the pinned client on the shared gateway: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, body = s.do(t, "GET", authorizeURL(challenge, url.Values{"client_id": {pinnedID}, "redirect_uri": {"https://elsewhere.example.com/cb"}}), nil)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "is not registered for this client") {
		t.Errorf("a redirect URI the document does not list: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	loc = s.signInAndApprove(t, authorizeURL(challenge, url.Values{"client_id": {pinnedID}, "resource": {""}}))
	status, tok = s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {pinnedID},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("pinned client code exchange: %d %v", status, tok)
	}
	grant, _ := tokens.ParseOpaque(tokens.RefreshPrefix, tok["refresh_token"].(string))
	if err := env.Client.Get(ctx, types.NamespacedName{Name: grant}, &conn); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: pinned.Name}, pinned); err != nil {
		t.Fatal(err)
	}
	if conn.Spec.ClientID != pinnedID || len(conn.OwnerReferences) != 1 || conn.OwnerReferences[0].UID != pinned.UID {
		t.Errorf("the pinned client's grant %+v is not owned by its OAuthClient: %v", conn.Spec, conn.OwnerReferences)
	}

	// A document that cannot be fetched: the unknown-client error page,
	// never a redirect, saying why.
	resp, body = s.do(t, "GET", authorizeURL(challenge, url.Values{"client_id": {docs.URL + "/missing.json"}}), nil)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "<html") ||
		!strings.Contains(body, "answered 404") {
		t.Errorf("an unfetchable document: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	status, out := s.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"mcpr1_x.y"}, "client_id": {docs.URL + "/missing.json"}})
	if status != http.StatusBadRequest || out["error"] != "invalid_client" {
		t.Errorf("token request of an unfetchable document's client: %d %v", status, out)
	}
}

// TestClusterFindsDeclaredMetadataDocumentClients reads OAuthClients by
// their metadata document URL through an informer cache with the index, as
// cmd/runtime does, and directly without it.
func TestClusterFindsDeclaredMetadataDocumentClients(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	informers, err := cache.New(env.Config, cache.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := runtime.IndexMetadataDocumentURLs(ctx, informers); err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	const docURL = "https://clients.example.com/index-test.json"
	objs := []*mcpv1alpha1.OAuthClient{
		{ObjectMeta: metav1.ObjectMeta{Name: "cimd-index-older"}, Spec: mcpv1alpha1.OAuthClientSpec{Handle: "acme", ClientName: "Older",
			Registration: mcpv1alpha1.RegistrationMetadataDocument, MetadataDocumentURL: docURL, RedirectURIs: []mcpv1alpha1.RedirectURI{callback}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "cimd-index-other"}, Spec: mcpv1alpha1.OAuthClientSpec{Handle: "acme", ClientName: "Other",
			Registration: mcpv1alpha1.RegistrationMetadataDocument, MetadataDocumentURL: docURL + "?v=2", RedirectURIs: []mcpv1alpha1.RedirectURI{callback}}},
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	// Creation timestamps have a resolution of a second.
	time.Sleep(1100 * time.Millisecond)
	newer := &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "a-cimd-index-newer"}, Spec: mcpv1alpha1.OAuthClientSpec{Gateway: true, ClientName: "Newer",
		Registration: mcpv1alpha1.RegistrationMetadataDocument, MetadataDocumentURL: docURL, RedirectURIs: []mcpv1alpha1.RedirectURI{callback}}}
	if err := env.Client.Create(ctx, newer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), newer) })

	for name, cluster := range map[string]runtime.Cluster{
		"informer cache with the index": {Reader: informers, Indexed: true},
		"direct":                        {Reader: env.Client},
	} {
		t.Run(name, func(t *testing.T) {
			waitfor.Eventually(t, 10*time.Second, "the oldest declaration, cimd-index-older", func() error {
				got, err := cluster.Client(ctx, docURL)
				if err != nil || got == nil || got.Name != "cimd-index-older" {
					return fmt.Errorf("client %v, error %w", got, err)
				}
				return nil
			})
			if c, err := cluster.Client(ctx, "https://clients.example.com/unknown.json"); err != nil || c != nil {
				t.Errorf("an undeclared URL: %v %v", c, err)
			}
		})
	}
}
