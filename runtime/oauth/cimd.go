package oauth

import (
	"container/list"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"golang.org/x/time/rate"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// Defaults of MetadataDocuments.
const (
	// DefaultMetadataDocumentMaxBytes is the draft's recommended limit on a
	// document (section "Maximum Response Size": 5 kilobytes).
	DefaultMetadataDocumentMaxBytes = 5 << 10
	defaultFetchTimeout             = 5 * time.Second
	defaultDialTimeout              = 2 * time.Second
	defaultMinTTL                   = 5 * time.Minute
	defaultMaxTTL                   = 24 * time.Hour
	defaultTTL                      = time.Hour
	defaultFailureTTL               = 30 * time.Second
	defaultMaxEntries               = 1000
	defaultFetchesPerHostPerMinute  = 30
	defaultFetchBurstPerHost        = 10
	maxClientNameRunes              = 64
	maxClientIDLength               = 2048
)

// MetadataDocumentError says why a client_id URL, or the document fetched
// from it, cannot identify a client. The authorization endpoint shows it on
// the error page for an unknown client; it is never sent to a redirect URI.
type MetadataDocumentError struct {
	URL    string
	Reason string
}

func (e *MetadataDocumentError) Error() string {
	return "the client ID metadata document " + quote(e.URL) + " cannot be used: " + e.Reason
}

// ClientMetadataDocument is the part of a client ID metadata document the
// server honours, validated.
type ClientMetadataDocument struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	// TokenEndpointAuthMethodsSupported lists every method the client can
	// use (OpenID Connect RP Metadata Choices); ChatGPT's document prefers
	// private_key_jwt and lists none here too.
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	GrantTypes                        []string `json:"grant_types,omitempty"`
	ResponseTypes                     []string `json:"response_types,omitempty"`
	Scope                             string   `json:"scope,omitempty"`
}

// MetadataDocuments fetches, validates and caches client ID metadata
// documents. The zero value uses the defaults; set fields before first use.
type MetadataDocuments struct {
	// Timeout bounds one fetch from dial to the last byte; DialTimeout the
	// connection (and TLS handshake).
	Timeout, DialTimeout time.Duration
	// MaxBytes bounds a document.
	MaxBytes int64
	// A fetched document is kept for its Cache-Control max-age within
	// [MinTTL, MaxTTL], DefaultTTL without one; a failure for FailureTTL, so
	// a bad URL cannot be used to make the server hammer a site.
	MinTTL, MaxTTL, DefaultTTL, FailureTTL time.Duration
	// MaxEntries bounds the cache (least recently used entries go first).
	MaxEntries int
	// FetchesPerHostPerMinute bounds fetches to one host (documents and
	// failures in the cache do not count), so many URLs on one site cannot
	// be used to flood it either.
	FetchesPerHostPerMinute int
	// AllowAddress decides which resolved addresses may be dialled. Nil
	// allows only public unicast addresses (PublicAddress); tests allow
	// loopback.
	AllowAddress func(netip.Addr) bool
	// TLSConfig is the TLS configuration of fetches; nil trusts the system
	// roots. Tests trust their server's certificate.
	TLSConfig *tls.Config
	// Now is the clock of the cache.
	Now func() time.Time

	once     sync.Once
	client   *http.Client
	mu       sync.Mutex
	entries  map[string]*list.Element
	lru      *list.List
	inflight map[string]*fetchCall
	hosts    map[string]*rate.Limiter
}

type cacheEntry struct {
	url     string
	doc     *ClientMetadataDocument
	err     error
	expires time.Time
}

type fetchCall struct {
	done chan struct{}
	doc  *ClientMetadataDocument
	err  error
}

// IsMetadataDocumentClientID reports whether a client_id is meant as a
// client ID metadata document URL. Object names cannot contain ':' or '/', so
// no declared or dynamic client's id looks like one.
func IsMetadataDocumentClientID(clientID string) bool {
	return strings.HasPrefix(clientID, "https://")
}

// CheckClientIDURL applies the draft's rules for a client identifier URL:
// https, a host, a path other than "/", no dot segments, no fragment, no
// user information. A query is allowed.
func CheckClientIDURL(raw string) error {
	bad := func(reason string) error { return &MetadataDocumentError{URL: raw, Reason: reason} }
	if len(raw) > maxClientIDLength {
		return bad("the client_id URL is longer than 2048 bytes")
	}
	if !strings.HasPrefix(raw, "https://") {
		return bad("a client_id URL must use the https scheme")
	}
	if strings.Contains(raw, "#") {
		return bad("a client_id URL must not contain a fragment")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return bad("the client_id is not a valid URL")
	case u.User != nil:
		return bad("a client_id URL must not contain a user name or password")
	case u.Hostname() == "":
		return bad("the client_id URL has no host")
	case u.Path == "" || u.Path == "/":
		return bad("a client_id URL must have a path, e.g. https://example.com/client.json")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return bad("a client_id URL must not contain . or .. path segments")
		}
	}
	return nil
}

func (d *MetadataDocuments) init() {
	d.once.Do(func() {
		setDefault(&d.Timeout, defaultFetchTimeout)
		setDefault(&d.DialTimeout, defaultDialTimeout)
		setDefault(&d.MaxBytes, DefaultMetadataDocumentMaxBytes)
		setDefault(&d.MinTTL, defaultMinTTL)
		setDefault(&d.MaxTTL, defaultMaxTTL)
		setDefault(&d.DefaultTTL, defaultTTL)
		setDefault(&d.FailureTTL, defaultFailureTTL)
		setDefault(&d.MaxEntries, defaultMaxEntries)
		setDefault(&d.FetchesPerHostPerMinute, defaultFetchesPerHostPerMinute)
		if d.AllowAddress == nil {
			d.AllowAddress = PublicAddress
		}
		if d.Now == nil {
			d.Now = time.Now
		}
		d.entries, d.lru = map[string]*list.Element{}, list.New()
		d.inflight, d.hosts = map[string]*fetchCall{}, map[string]*rate.Limiter{}
		d.client = d.newHTTPClient()
	})
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// newHTTPClient returns the client of fetches: no proxy, no redirects, the
// address policy applied to every address actually dialled (so a DNS answer
// cannot point the fetch at an internal address after a check), and tight
// timeouts.
func (d *MetadataDocuments) newHTTPClient() *http.Client {
	allow := d.AllowAddress
	dialer := &net.Dialer{Timeout: d.DialTimeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return err
		}
		if !allow(ip.Unmap()) {
			return &refusedAddressError{addr: ip.Unmap()}
		}
		return nil
	}}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if d.TLSConfig != nil {
		tlsConfig = d.TLSConfig.Clone()
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    d.DialTimeout,
		ResponseHeaderTimeout:  d.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
	}
	return &http.Client{
		Transport:     transport,
		Timeout:       d.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type refusedAddressError struct{ addr netip.Addr }

func (e *refusedAddressError) Error() string {
	return "address " + e.addr.String() + " is not a public address"
}

// Get returns the validated document of a client_id URL, from the cache when
// it is fresh. Its errors are *MetadataDocumentError, or the context's error.
func (d *MetadataDocuments) Get(ctx context.Context, clientID string) (*ClientMetadataDocument, error) {
	if err := CheckClientIDURL(clientID); err != nil {
		return nil, err
	}
	d.init()
	d.mu.Lock()
	if el, ok := d.entries[clientID]; ok {
		e := el.Value.(*cacheEntry)
		if d.Now().Before(e.expires) {
			d.lru.MoveToFront(el)
			d.mu.Unlock()
			return e.doc, e.err
		}
		d.lru.Remove(el)
		delete(d.entries, clientID)
	}
	call, ok := d.inflight[clientID]
	if !ok {
		call = &fetchCall{done: make(chan struct{})}
		d.inflight[clientID] = call
		go d.run(ctx, clientID, call)
	}
	d.mu.Unlock()
	select {
	case <-call.done:
		return call.doc, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run fetches once for every concurrent caller, on a context of its own so
// one caller giving up does not fail the others.
func (d *MetadataDocuments) run(ctx context.Context, clientID string, call *fetchCall) {
	fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.Timeout)
	defer cancel()
	doc, ttl, err := d.fetch(fetchCtx, clientID)
	call.doc, call.err = doc, err
	d.mu.Lock()
	defer d.mu.Unlock()
	// The result is cached before the callers wake, so the next lookup
	// finds it.
	defer close(call.done)
	delete(d.inflight, clientID)
	if ttl <= 0 {
		return
	}
	d.entries[clientID] = d.lru.PushFront(&cacheEntry{url: clientID, doc: doc, err: err, expires: d.Now().Add(ttl)})
	for d.lru.Len() > d.MaxEntries {
		oldest := d.lru.Back()
		d.lru.Remove(oldest)
		delete(d.entries, oldest.Value.(*cacheEntry).url)
	}
}

// fetch retrieves and validates a document, and returns how long to keep
// the result (0: not at all).
func (d *MetadataDocuments) fetch(ctx context.Context, clientID string) (*ClientMetadataDocument, time.Duration, error) {
	fail := func(reason string) (*ClientMetadataDocument, time.Duration, error) {
		return nil, d.FailureTTL, &MetadataDocumentError{URL: clientID, Reason: reason}
	}
	u, _ := url.Parse(clientID)
	if !d.allowHost(u.Host) {
		return nil, 0, &MetadataDocumentError{URL: clientID, Reason: "too many metadata documents were fetched from " + u.Host + " in the last minute; retry shortly"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientID, nil)
	if err != nil {
		return fail("the client_id is not a valid URL")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mcp-handle-operator (client ID metadata document fetch)")
	resp, err := d.client.Do(req)
	if err != nil {
		var refused *refusedAddressError
		var netErr net.Error
		switch {
		case errors.As(err, &refused):
			return fail("its host resolves to " + refused.Error() + "; metadata documents are only fetched from public addresses")
		case errors.As(err, &netErr) && netErr.Timeout():
			return fail(fmt.Sprintf("the document could not be fetched within %s", d.Timeout))
		default:
			return fail("the document could not be fetched (" + fetchErrorSummary(err) + ")")
		}
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fail(fmt.Sprintf("the server answered %d with a redirect; redirects are not followed: the document must be served at the client_id URL itself", resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return fail(fmt.Sprintf("the server answered %d instead of 200", resp.StatusCode))
	}
	if !jsonMediaType(resp.Header.Get("Content-Type")) {
		return fail("the document must be served as application/json")
	}
	if resp.ContentLength > d.MaxBytes {
		return fail(fmt.Sprintf("the document is larger than %d bytes", d.MaxBytes))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, d.MaxBytes+1))
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return fail(fmt.Sprintf("the document could not be fetched within %s", d.Timeout))
		}
		return fail("the document could not be read")
	}
	if int64(len(body)) > d.MaxBytes {
		return fail(fmt.Sprintf("the document is larger than %d bytes", d.MaxBytes))
	}
	doc, reason := ParseClientMetadataDocument(clientID, body)
	if reason != "" {
		return fail(reason)
	}
	return doc, d.ttl(resp.Header.Get("Cache-Control")), nil
}

// jsonMediaType reports whether a Content-Type is application/json or an
// application/*+json type.
func jsonMediaType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// fetchErrorSummary names a transport failure without echoing the whole
// URL again.
func fetchErrorSummary(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160] + "..."
	}
	return msg
}

// ttl reads max-age from Cache-Control and bounds it; no-store and no-cache
// get the minimum, which protects the site from a fetch on every request.
func (d *MetadataDocuments) ttl(cacheControl string) time.Duration {
	ttl := d.DefaultTTL
	for _, directive := range strings.Split(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(directive), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return d.MinTTL
		case "max-age":
			if secs, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && secs >= 0 {
				ttl = time.Duration(min(secs, int64(d.MaxTTL/time.Second))) * time.Second
			}
		}
	}
	return min(max(ttl, d.MinTTL), d.MaxTTL)
}

// allowHost applies the per-host fetch limit.
func (d *MetadataDocuments) allowHost(host string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.hosts) > 10000 {
		// Forget old hosts rather than grow without bound.
		d.hosts = map[string]*rate.Limiter{}
	}
	l := d.hosts[host]
	if l == nil {
		l = rate.NewLimiter(rate.Every(time.Minute/time.Duration(d.FetchesPerHostPerMinute)), defaultFetchBurstPerHost)
		d.hosts[host] = l
	}
	return l.Allow()
}

// ParseClientMetadataDocument validates a document fetched from clientID and
// returns it, or why it cannot be used: a JSON object whose client_id is the
// URL exactly, with redirect_uris, no client secret, and able to use the
// client authentication none (these clients are public: PKCE only).
// Redirect URIs this server would not accept (a browser's own schemes,
// plain http other than loopback, fragments) are dropped; at least one must
// remain.
func ParseClientMetadataDocument(clientID string, body []byte) (*ClientMetadataDocument, string) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, "the document is not a JSON object"
	}
	// Member names are compared as encoding/json matches them to fields,
	// ignoring case, so no spelling of a secret slips through.
	for name := range members {
		for _, secret := range []string{"client_secret", "client_secret_expires_at"} {
			if strings.EqualFold(name, secret) {
				return nil, "the document contains " + secret + ": a metadata document client must not have a shared secret"
			}
		}
	}
	var doc ClientMetadataDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, "the document's " + typeErr.Field + " has the wrong JSON type"
		}
		return nil, "the document is not a valid client metadata object"
	}
	switch {
	case doc.ClientID == "":
		return nil, "the document has no client_id"
	case doc.ClientID != clientID:
		return nil, "the document's client_id " + quote(doc.ClientID) + " is not exactly the URL it was fetched from"
	case !doc.canUseNone():
		return nil, "token_endpoint_auth_method must be none or absent, or token_endpoint_auth_methods_supported must list none: this server accepts metadata document clients only as public clients (PKCE)"
	case len(doc.GrantTypes) > 0 && !slices.Contains(doc.GrantTypes, "authorization_code"):
		return nil, "grant_types does not include authorization_code"
	case len(doc.ResponseTypes) > 0 && !slices.Contains(doc.ResponseTypes, "code"):
		return nil, "response_types does not include code"
	case len(doc.RedirectURIs) == 0:
		return nil, "the document has no redirect_uris: there is no default callback"
	}
	var accepted []string
	for _, u := range doc.RedirectURIs {
		if mcpv1alpha1.RedirectURI(u).Validate() == nil && !slices.Contains(accepted, u) {
			accepted = append(accepted, u)
		}
	}
	if len(accepted) == 0 {
		return nil, "none of the document's redirect_uris is an https URL, http on localhost, 127.0.0.1 or [::1], or a native app's private-use URI (lowercase scheme:/...), without a fragment or user information"
	}
	doc.RedirectURIs = accepted
	doc.ClientName = sanitizeClientName(doc.ClientName)
	return &doc, ""
}

// canUseNone reports whether the client can authenticate with none: its
// method is none or absent, or its list of supported methods names none (the
// declared method is then a preference this server does not offer).
func (doc *ClientMetadataDocument) canUseNone() bool {
	none := string(mcpv1alpha1.TokenEndpointAuthNone)
	return doc.TokenEndpointAuthMethod == "" || doc.TokenEndpointAuthMethod == none ||
		slices.Contains(doc.TokenEndpointAuthMethodsSupported, none)
}

// sanitizeClientName keeps a client_name printable: it is text the client's
// author chose, shown to people. Control and format characters (including
// bidirectional overrides) go, runs of spaces become one, and it is cut to
// 64 characters.
func sanitizeClientName(name string) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range name {
		if n == maxClientNameRunes {
			break
		}
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), !unicode.IsPrint(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// PublicAddress reports whether an address is a public unicast address: not
// loopback, private, link-local, multicast, unspecified, shared (CGNAT),
// documentation, benchmarking or reserved, nor an IPv6 form that embeds an
// IPv4 address (NAT64, 6to4, Teredo).
func PublicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsMulticast() ||
		ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() || ip.IsLinkLocalMulticast() {
		return false
	}
	for _, p := range nonPublicPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var nonPublicPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
		"64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/32", "2001:db8::/32", "2002::/16", "fec0::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// MetadataDocumentClients serves client ID metadata document clients behind
// the Clients interface, so authorization, consent, token and revocation
// treat them like any other client. Any other client_id goes to Clients.
//
//   - An OAuthClient declared with registration MetadataDocument and the URL
//     wins: its binding (handle or gateway), scopes and name apply, and its
//     redirect URIs are those it declares that the document also lists.
//   - Any other https client_id becomes a public client that exists only in
//     memory, bound to no resource: each grant is bound by the resource (and
//     on the shared gateway, the handle) the user approves.
//
// A document that cannot be fetched or is invalid makes the client unknown,
// with a *MetadataDocumentError saying why.
type MetadataDocumentClients struct {
	Clients   Clients
	Documents *MetadataDocuments
}

// Client implements Clients.
func (m *MetadataDocumentClients) Client(ctx context.Context, clientID string) (*mcpv1alpha1.OAuthClient, error) {
	if !IsMetadataDocumentClientID(clientID) {
		return m.Clients.Client(ctx, clientID)
	}
	if err := CheckClientIDURL(clientID); err != nil {
		return nil, err
	}
	declared, err := m.Clients.Client(ctx, clientID)
	if err != nil {
		return nil, err
	}
	doc, err := m.Documents.Get(ctx, clientID)
	if err != nil {
		return nil, err
	}
	if declared != nil {
		return pinnedClient(declared, doc)
	}
	return documentClient(clientID, doc), nil
}

// pinnedClient applies a document to the OAuthClient that declares it.
func pinnedClient(declared *mcpv1alpha1.OAuthClient, doc *ClientMetadataDocument) (*mcpv1alpha1.OAuthClient, error) {
	if declared.Confidential() {
		return nil, &MetadataDocumentError{URL: doc.ClientID, Reason: "the OAuthClient " + declared.Name +
			" that declares it is confidential; a metadata document client is public (tokenEndpointAuthMethod none)"}
	}
	c := declared.DeepCopy()
	c.Spec.RedirectURIs = nil
	for _, u := range declared.Spec.RedirectURIs {
		if slices.Contains(doc.RedirectURIs, string(u)) {
			c.Spec.RedirectURIs = append(c.Spec.RedirectURIs, u)
		}
	}
	if len(c.Spec.RedirectURIs) == 0 {
		return nil, &MetadataDocumentError{URL: doc.ClientID, Reason: "none of the redirectURIs of the OAuthClient " + declared.Name +
			" is listed in the document's redirect_uris"}
	}
	return c, nil
}

// documentClient is the in-memory client of an undeclared document: public,
// unbound, named by the document and its host, since the name alone is
// whatever the document's author chose.
func documentClient(clientID string, doc *ClientMetadataDocument) *mcpv1alpha1.OAuthClient {
	u, _ := url.Parse(clientID)
	name := u.Host
	if doc.ClientName != "" && doc.ClientName != u.Host {
		name = doc.ClientName + " (" + u.Host + ")"
	}
	c := &mcpv1alpha1.OAuthClient{Spec: mcpv1alpha1.OAuthClientSpec{
		ClientName:              name,
		TokenEndpointAuthMethod: mcpv1alpha1.TokenEndpointAuthNone,
		Registration:            mcpv1alpha1.RegistrationMetadataDocument,
		MetadataDocumentURL:     clientID,
	}}
	for _, r := range doc.RedirectURIs {
		c.Spec.RedirectURIs = append(c.Spec.RedirectURIs, mcpv1alpha1.RedirectURI(r))
	}
	// The document's scope (RFC 7591: the scopes the client may use) names
	// the scopes to grant when a request omits scope, as for dynamic
	// registration. A document serves many servers, so scopes unknown here
	// are ignored rather than refused.
	for _, s := range strings.Fields(doc.Scope) {
		if _, ok := mcpv1alpha1.LookupScope(s); ok && !slices.Contains(c.Spec.DefaultScopes, mcpv1alpha1.Scope(s)) {
			c.Spec.DefaultScopes = append(c.Spec.DefaultScopes, mcpv1alpha1.Scope(s))
		}
	}
	return c
}
