package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// docServer is an https server of metadata documents. Each path answers with
// its handler; hits counts requests per path.
type docServer struct {
	*httptest.Server
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	hits     map[string]int
}

func newDocServer(t *testing.T) *docServer {
	t.Helper()
	s := &docServer{handlers: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		h := s.handlers[r.URL.Path]
		s.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve answers path with a JSON body and headers.
func (s *docServer) serve(path, body string, header ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[path] = func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		_, _ = w.Write([]byte(body))
	}
	return s.URL + path
}

func (s *docServer) handle(path string, h http.HandlerFunc) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[path] = h
	return s.URL + path
}

func (s *docServer) hitsOf(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// documents returns a fetcher that trusts the server and may dial loopback,
// on a clock the test moves.
func (s *docServer) documents(clock *time.Time) *MetadataDocuments {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return &MetadataDocuments{
		AllowAddress: func(netip.Addr) bool { return true },
		TLSConfig:    &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Now:          func() time.Time { return *clock },
	}
}

func validDoc(clientID string, extra ...string) string {
	members := []string{
		fmt.Sprintf(`"client_id":%q`, clientID),
		`"client_name":"Example Client"`,
		`"redirect_uris":["https://app.example.com/callback","myapp://callback","javascript://x/%0aalert(1)","http://127.0.0.1:33418/cb"]`,
		`"grant_types":["authorization_code","refresh_token"]`,
		`"response_types":["code"]`,
		`"token_endpoint_auth_method":"none"`,
	}
	members = append(members, extra...)
	return "{" + strings.Join(members, ",") + "}"
}

func TestMetadataDocumentFetchAndCache(t *testing.T) {
	s := newDocServer(t)
	clock := time.Unix(1_700_000_000, 0)
	d := s.documents(&clock)
	id := s.URL + "/client.json"
	s.serve("/client.json", validDoc(id), "Cache-Control", "public, max-age=600")

	doc, err := d.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if doc.ClientID != id || doc.ClientName != "Example Client" {
		t.Errorf("document %+v", doc)
	}
	// A browser's own scheme is dropped; the https, private-use and loopback
	// callbacks stay.
	if got := strings.Join(doc.RedirectURIs, " "); got != "https://app.example.com/callback myapp://callback http://127.0.0.1:33418/cb" {
		t.Errorf("redirect URIs %q", got)
	}
	clock = clock.Add(599 * time.Second)
	if _, err := d.Get(context.Background(), id); err != nil || s.hitsOf("/client.json") != 1 {
		t.Fatalf("within max-age: err %v, %d fetches, want 1", err, s.hitsOf("/client.json"))
	}
	clock = clock.Add(2 * time.Second)
	if _, err := d.Get(context.Background(), id); err != nil || s.hitsOf("/client.json") != 2 {
		t.Fatalf("after max-age: err %v, %d fetches, want 2", err, s.hitsOf("/client.json"))
	}
}

func TestMetadataDocumentCacheBounds(t *testing.T) {
	s := newDocServer(t)
	clock := time.Unix(1_700_000_000, 0)
	d := s.documents(&clock)
	cases := []struct {
		name, cacheControl string
		kept               time.Duration // fresh just before, refetched just after
	}{
		{"max-age=0 is raised to the minimum", "max-age=0", defaultMinTTL},
		{"no-store gets the minimum", "no-store", defaultMinTTL},
		{"a huge max-age is cut to the maximum", "max-age=999999999999", defaultMaxTTL},
		{"no Cache-Control gets the default", "", defaultTTL},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := fmt.Sprintf("/c%d.json", i)
			id := s.URL + path
			s.serve(path, validDoc(id), "Cache-Control", tc.cacheControl)
			start := clock
			for _, step := range []struct {
				at   time.Duration
				want int
			}{{0, 1}, {tc.kept - time.Second, 1}, {tc.kept + time.Second, 2}} {
				clock = start.Add(step.at)
				if _, err := d.Get(context.Background(), id); err != nil {
					t.Fatal(err)
				}
				if got := s.hitsOf(path); got != step.want {
					t.Fatalf("at +%s: %d fetches, want %d", step.at, got, step.want)
				}
			}
		})
	}
}

func TestMetadataDocumentFailuresAreCachedBriefly(t *testing.T) {
	s := newDocServer(t)
	clock := time.Unix(1_700_000_000, 0)
	d := s.documents(&clock)
	id := s.handle("/broken.json", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	for range 5 {
		if _, err := d.Get(context.Background(), id); err == nil || !strings.Contains(err.Error(), "answered 500") {
			t.Fatalf("error %v", err)
		}
	}
	if n := s.hitsOf("/broken.json"); n != 1 {
		t.Fatalf("%d fetches of a failing document, want 1 within the failure TTL", n)
	}
	clock = clock.Add(defaultFailureTTL + time.Second)
	s.serve("/broken.json", validDoc(id))
	if _, err := d.Get(context.Background(), id); err != nil || s.hitsOf("/broken.json") != 2 {
		t.Fatalf("after the failure TTL: err %v, %d fetches", err, s.hitsOf("/broken.json"))
	}
}

func TestMetadataDocumentCacheIsBounded(t *testing.T) {
	s := newDocServer(t)
	clock := time.Unix(1_700_000_000, 0)
	d := s.documents(&clock)
	d.MaxEntries = 2
	var ids []string
	for i := range 3 {
		path := fmt.Sprintf("/b%d.json", i)
		ids = append(ids, s.serve(path, validDoc(s.URL+path)))
	}
	for _, id := range append(ids, ids[2], ids[1]) {
		if _, err := d.Get(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.entries) != 2 || d.lru.Len() != 2 {
		t.Fatalf("%d entries, want at most 2", len(d.entries))
	}
	// b0 was evicted (least recently used); b1 and b2 were served from the
	// cache.
	if _, err := d.Get(context.Background(), ids[0]); err != nil {
		t.Fatal(err)
	}
	if a, b, c := s.hitsOf("/b0.json"), s.hitsOf("/b1.json"), s.hitsOf("/b2.json"); a != 2 || b != 1 || c != 1 {
		t.Errorf("fetches b0=%d b1=%d b2=%d, want 2 1 1", a, b, c)
	}
}

func TestMetadataDocumentConcurrentLookupsFetchOnce(t *testing.T) {
	s := newDocServer(t)
	clock := time.Unix(1_700_000_000, 0)
	d := s.documents(&clock)
	release := make(chan struct{})
	var id string
	id = s.handle("/slow.json", func(w http.ResponseWriter, _ *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(validDoc(id)))
	})
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.Get(context.Background(), id); err != nil {
				failed.Add(1)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	if failed.Load() != 0 || s.hitsOf("/slow.json") != 1 {
		t.Fatalf("%d failures, %d fetches; want 0 and 1", failed.Load(), s.hitsOf("/slow.json"))
	}
}

func TestMetadataDocumentFetchRefusals(t *testing.T) {
	s := newDocServer(t)
	clock := time.Unix(1_700_000_000, 0)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	big := `{"client_id":"x","pad":"` + strings.Repeat("a", DefaultMetadataDocumentMaxBytes) + `"}`
	cases := []struct {
		name    string
		handler func(id string) http.HandlerFunc
		want    string
	}{
		{"redirect", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/target.json", http.StatusFound) }
		}, "redirects are not followed"},
		{"not found", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
		}, "answered 404"},
		{"HTML", func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = w.Write([]byte(validDoc(id)))
			}
		}, "application/json"},
		{"too large with Content-Length", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(big))
			}
		}, "larger than 5120 bytes"},
		{"too large, streamed", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				for range 10 {
					_, _ = w.Write([]byte(strings.Repeat(" ", 1024)))
					w.(http.Flusher).Flush()
				}
			}
		}, "larger than 5120 bytes"},
		{"slow", func(string) http.HandlerFunc {
			return func(_ http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}
		}, "could not be fetched within 300ms"},
		{"invalid document", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(validDoc("https://elsewhere.example.com/client.json")))
			}
		}, "is not exactly the URL it was fetched from"},
	}
	s.serve("/target.json", validDoc(s.URL+"/target.json"))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := s.documents(&clock)
			d.Timeout = 300 * time.Millisecond
			path := fmt.Sprintf("/r%d.json", i)
			id := s.handle(path, tc.handler(s.URL+path))
			start := time.Now()
			_, err := d.Get(context.Background(), id)
			var docErr *MetadataDocumentError
			if !errors.As(err, &docErr) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a MetadataDocumentError with %q", err, tc.want)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
	if n := s.hitsOf("/target.json"); n != 0 {
		t.Errorf("the redirect was followed (%d fetches of its target)", n)
	}
}

func TestMetadataDocumentRefusesNonPublicAddresses(t *testing.T) {
	s := newDocServer(t)
	id := s.serve("/client.json", validDoc(s.URL+"/client.json"))
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	// The default address policy: the test server is on loopback.
	d := &MetadataDocuments{TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	_, err := d.Get(context.Background(), id)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1 is not a public address") {
		t.Fatalf("error %v", err)
	}
	if n := s.hitsOf("/client.json"); n != 0 {
		t.Fatalf("a loopback server was fetched %d times", n)
	}
	// A name that resolves to loopback is refused the same way.
	_, err = d.Get(context.Background(), strings.Replace(id, "127.0.0.1", "localhost", 1))
	if err == nil || !strings.Contains(err.Error(), "is not a public address") {
		t.Fatalf("localhost: error %v", err)
	}
}

func TestMetadataDocumentPerHostLimit(t *testing.T) {
	s := newDocServer(t)
	clock := time.Unix(1_700_000_000, 0)
	d := s.documents(&clock)
	var err error
	for i := range defaultFetchBurstPerHost + 1 {
		path := fmt.Sprintf("/h%d.json", i)
		_, err = d.Get(context.Background(), s.serve(path, validDoc(s.URL+path)))
		if i < defaultFetchBurstPerHost && err != nil {
			t.Fatal(err)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "too many metadata documents were fetched from") {
		t.Fatalf("fetch %d: error %v", defaultFetchBurstPerHost+1, err)
	}
}

func TestCheckClientIDURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://example.com/client.json":                  "",
		"https://example.com:8443/oauth/client?v=1":        "",
		"http://example.com/client.json":                   "https scheme",
		"HTTPS://example.com/client.json":                  "https scheme",
		"https://example.com":                              "must have a path",
		"https://example.com/":                             "must have a path",
		"https://example.com/client.json#x":                "fragment",
		"https://user:pw@example.com/client.json":          "user name or password",
		"https://example.com/a/../client.json":             ". or .. path segments",
		"https://example.com/./client.json":                ". or .. path segments",
		"https://example.com/a/%2e%2e/client.json":         ". or .. path segments",
		"https:///client.json":                             "no host",
		"https://example.com/" + strings.Repeat("a", 2100): "longer than 2048",
	} {
		err := CheckClientIDURL(raw)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%.60s: %v, want %q", raw, err, want)
		}
	}
}

func TestParseClientMetadataDocument(t *testing.T) {
	const id = "https://app.example.com/client.json"
	cases := []struct {
		name, body, want string
	}{
		{"valid", validDoc(id), ""},
		{"minimal", `{"client_id":"` + id + `","redirect_uris":["https://app.example.com/cb"]}`, ""},
		{"not an object", `["x"]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"no client_id", `{"redirect_uris":["https://app.example.com/cb"]}`, "no client_id"},
		{"client_id with a trailing slash", validDoc(id + "/"), "is not exactly the URL"},
		{"client_id in another case", validDoc(strings.ToUpper(id)), "is not exactly the URL"},
		{"client_secret", validDoc(id, `"client_secret":"s3cret"`), "contains client_secret"},
		{"client_secret_expires_at", validDoc(id, `"client_secret_expires_at":0`), "contains client_secret_expires_at"},
		{"client_secret_basic", strings.Replace(validDoc(id), `"none"`, `"client_secret_basic"`, 1), "must be none or absent"},
		{"private_key_jwt", strings.Replace(validDoc(id), `"none"`, `"private_key_jwt"`, 1), "must be none or absent"},
		// ChatGPT's published document: private_key_jwt preferred, none listed.
		{"private_key_jwt preferred, none supported", strings.Replace(validDoc(id, `"token_endpoint_auth_methods_supported":["none","private_key_jwt"]`), `"none"`, `"private_key_jwt"`, 1), ""},
		{"private_key_jwt only", strings.Replace(validDoc(id, `"token_endpoint_auth_methods_supported":["private_key_jwt"]`), `"none"`, `"private_key_jwt"`, 1), "must be none or absent"},
		{"no redirect_uris", `{"client_id":"` + id + `"}`, "no redirect_uris"},
		{"only unusable redirect URIs", `{"client_id":"` + id + `","redirect_uris":["javascript://cb/%0aalert(1)","MyApp://cb","http://example.com/cb","https://a.example.com/cb#f"]}`, "none of the document's redirect_uris"},
		{"redirect_uris of the wrong type", `{"client_id":"` + id + `","redirect_uris":"https://app.example.com/cb"}`, "redirect_uris has the wrong JSON type"},
		{"no authorization_code grant", strings.Replace(validDoc(id), `"authorization_code",`, "", 1), "grant_types does not include authorization_code"},
		{"no code response type", strings.Replace(validDoc(id), `["code"]`, `["token"]`, 1), "response_types does not include code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, reason := ParseClientMetadataDocument(id, []byte(tc.body))
			if tc.want == "" && (reason != "" || doc == nil) || tc.want != "" && !strings.Contains(reason, tc.want) {
				t.Errorf("reason %q, want %q", reason, tc.want)
			}
		})
	}
}

func TestSanitizeClientName(t *testing.T) {
	for in, want := range map[string]string{
		"  Claude  Desktop ":        "Claude Desktop",
		"Chat\u202eGPT\u200b":       "ChatGPT",
		"line\nbreak\ttab":          "line break tab",
		"bell\a":                    "bell",
		strings.Repeat("x", 100):    strings.Repeat("x", 64),
		"<script>alert(1)</script>": "<script>alert(1)</script>", // escaped by the templates
		"Ünïcödé — fine":            "Ünïcödé — fine",
	} {
		if got := sanitizeClientName(in); got != want {
			t.Errorf("sanitizeClientName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPublicAddress(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:4700::6810:84e5": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::": false, "224.0.0.1": false,
		"255.255.255.255": false, "fd00::1": false, "fe80::1": false, "::ffff:127.0.0.1": false,
		"::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "2002:a00:1::1": false, "198.18.0.1": false,
	} {
		if got := PublicAddress(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddress(%s) = %v, want %v", addr, got, want)
		}
	}
}

// failingClients fails every lookup, like an unreadable cache.
type failingClients struct{}

func (failingClients) Client(context.Context, string) (*mcpv1alpha1.OAuthClient, error) {
	return nil, errors.New("cache down")
}

func TestMetadataDocumentClients(t *testing.T) {
	s := newDocServer(t)
	clock := time.Unix(1_700_000_000, 0)
	docID := s.serve("/client.json", validDoc(s.URL+"/client.json", `"scope":"mcp.connect links.read unknown.scope"`))
	pinnedID := s.serve("/pinned.json", validDoc(s.URL+"/pinned.json"))
	declared := func(name, url string, spec mcpv1alpha1.OAuthClientSpec) *mcpv1alpha1.OAuthClient {
		spec.Registration, spec.MetadataDocumentURL = mcpv1alpha1.RegistrationMetadataDocument, url
		return &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: name, UID: "uid-1"}, Spec: spec}
	}
	inner := fakeClients{
		"acme":   client("acme", mcpv1alpha1.OAuthClientSpec{Handle: "acme"}),
		pinnedID: declared("pinned", pinnedID, mcpv1alpha1.OAuthClientSpec{Handle: "acme", ClientName: "Pinned", RedirectURIs: []mcpv1alpha1.RedirectURI{"https://other.example.com/cb", "https://app.example.com/callback"}}),
	}
	m := &MetadataDocumentClients{Clients: inner, Documents: s.documents(&clock)}
	ctx := context.Background()

	if c, err := m.Client(ctx, "acme"); err != nil || c == nil || c.Name != "acme" {
		t.Fatalf("a declared client by name: %v %v", c, err)
	}
	if c, err := m.Client(ctx, "nobody"); err != nil || c != nil {
		t.Fatalf("an unknown name: %v %v", c, err)
	}

	c, err := m.Client(ctx, docID)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(s.URL, "https://")
	if c.ClientID() != docID || c.UID != "" || c.Confidential() || c.Spec.Handle != "" || c.Spec.Gateway ||
		c.Spec.ClientName != "Example Client ("+host+")" || len(c.Spec.RedirectURIs) != 3 ||
		fmt.Sprint(c.Spec.DefaultScopes) != "[mcp.connect links.read]" {
		t.Errorf("document client %+v", c.Spec)
	}

	c, err = m.Client(ctx, pinnedID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "pinned" || c.Spec.Handle != "acme" || c.Spec.ClientName != "Pinned" ||
		len(c.Spec.RedirectURIs) != 1 || c.Spec.RedirectURIs[0] != "https://app.example.com/callback" {
		t.Errorf("pinned client %+v, want only the redirect URI both list", c.Spec)
	}
	if len(inner[pinnedID].Spec.RedirectURIs) != 2 {
		t.Error("the declared object was modified")
	}

	inner[pinnedID] = declared("pinned", pinnedID, mcpv1alpha1.OAuthClientSpec{Handle: "acme", RedirectURIs: []mcpv1alpha1.RedirectURI{"https://other.example.com/cb"}})
	if _, err := m.Client(ctx, pinnedID); err == nil || !strings.Contains(err.Error(), "none of the redirectURIs of the OAuthClient pinned") {
		t.Errorf("no common redirect URI: %v", err)
	}
	inner[pinnedID] = declared("pinned", pinnedID, mcpv1alpha1.OAuthClientSpec{Handle: "acme", TokenEndpointAuthMethod: mcpv1alpha1.TokenEndpointAuthClientSecretBasic,
		RedirectURIs: []mcpv1alpha1.RedirectURI{"https://app.example.com/callback"}})
	if _, err := m.Client(ctx, pinnedID); err == nil || !strings.Contains(err.Error(), "is confidential") {
		t.Errorf("a confidential declaration: %v", err)
	}

	if _, err := m.Client(ctx, s.URL+"/missing.json"); !isDocErr(err) || !strings.Contains(err.Error(), "answered 404") {
		t.Errorf("a missing document: %v", err)
	}
	if _, err := m.Client(ctx, "https://example.com"); !isDocErr(err) || !strings.Contains(err.Error(), "must have a path") {
		t.Errorf("a client_id without a path: %v", err)
	}
	broken := &MetadataDocumentClients{Clients: failingClients{}, Documents: m.Documents}
	if _, err := broken.Client(ctx, docID); err == nil || isDocErr(err) {
		t.Errorf("an unreadable cache must stay a server error: %v", err)
	}
}

func isDocErr(err error) bool {
	var docErr *MetadataDocumentError
	return errors.As(err, &docErr)
}

func TestAuthorizeRequestWithMetadataDocuments(t *testing.T) {
	cfg, err := platform.Load("../../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := newDocServer(t)
	clock := time.Unix(1_700_000_000, 0)
	id := s.serve("/client.json", validDoc(s.URL+"/client.json"))
	m := &MetadataDocumentClients{Clients: fakeClients{}, Documents: s.documents(&clock)}
	q := func(clientID, resource string) url.Values {
		return url.Values{"client_id": {clientID}, "redirect_uri": {"https://app.example.com/callback"}, "response_type": {"code"},
			"state": {"s"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
			"resource": {resource}}
	}
	req, c, err := ParseAuthorizeRequest(context.Background(), cfg, m, q(id, "https://acme.mcp.10x.in/mcp"))
	if err != nil || req.Handle != "acme" || c.ClientID() != id {
		t.Fatalf("request %+v, client %v, error %v", req, c, err)
	}
	// Unbound: any resource of the server, the user picks the handle on the
	// shared gateway; none at all is invalid_target.
	if req, _, err := ParseAuthorizeRequest(context.Background(), cfg, m, q(id, "https://ai.10x.in/mcp")); err != nil || req.Kind != platform.ResourceGateway {
		t.Fatalf("shared gateway: %+v %v", req, err)
	}
	var redirect *RedirectError
	if _, _, err := ParseAuthorizeRequest(context.Background(), cfg, m, q(id, "")); !errors.As(err, &redirect) || redirect.Err.Code != "invalid_target" {
		t.Fatalf("no resource: %v", err)
	}
	// A document that cannot be fetched is an unknown client: an error page
	// (a plain *Error), never a redirect.
	_, _, err = ParseAuthorizeRequest(context.Background(), cfg, m, q(s.URL+"/gone.json", "https://acme.mcp.10x.in/mcp"))
	var plain *Error
	if !errors.As(err, &plain) || errors.As(err, &redirect) || plain.Code != "invalid_client" || plain.Status != http.StatusBadRequest ||
		!strings.Contains(plain.Description, "answered 404") {
		t.Fatalf("unfetchable document: %#v", err)
	}
}

func TestMetadataAdvertisesTheSwitch(t *testing.T) {
	cfg, err := platform.Load("../../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !NewAuthorizationServerMetadata(cfg).ClientIDMetadataDocumentSupported {
		t.Error("enabled by default, but not advertised")
	}
	off := false
	cfg.ClientIDMetadataDocuments.Enabled = &off
	if NewAuthorizationServerMetadata(cfg).ClientIDMetadataDocumentSupported {
		t.Error("disabled, but advertised")
	}
}
