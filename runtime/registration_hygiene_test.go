package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/audit"
	"github.com/10xdotin/mcp-handle-operator/runtime/registry"
)

const registerURL = "https://ai.10x.in/oauth/register"

// unusedClients counts the unused dynamic clients in the apiserver.
func unusedClients(t *testing.T) int {
	t.Helper()
	var l mcpv1alpha1.OAuthClientList
	if err := env.Client.List(context.Background(), &l, ctrlclient.MatchingLabels{registry.LabelUnused: "true"}); err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

func getClient(t *testing.T, name string) *mcpv1alpha1.OAuthClient {
	t.Helper()
	c := &mcpv1alpha1.OAuthClient{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: name}, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIdenticalRegistrationsShareOneUnusedClient(t *testing.T) {
	s := newStack(t)
	const cb = "https://chatgpt.com/connector/oauth/cb_dedupe"
	md := map[string]any{"redirect_uris": []string{cb, cb + "_2"}, "client_name": "Reconnecting connector",
		"token_endpoint_auth_method": "none", "scope": "mcp.connect skills.read"}
	before := unusedClients(t)
	status, first := s.doJSON(t, "POST", registerURL, "", md)
	if status != http.StatusCreated || first["registration_access_token"] == nil {
		t.Fatalf("first registration: %d %v", status, first)
	}
	// The same metadata in another order, through the other replica.
	again := map[string]any{"redirect_uris": []string{cb + "_2", cb}, "client_name": "Reconnecting connector",
		"token_endpoint_auth_method": "none", "scope": "skills.read mcp.connect"}
	for range 3 {
		status, reg := s.doJSON(t, "POST", registerURL, "", again)
		if status != http.StatusCreated || reg["client_id"] != first["client_id"] {
			t.Fatalf("an identical registration got %d %v, want client %v", status, reg, first["client_id"])
		}
		if reg["registration_access_token"] != nil || reg["registration_client_uri"] != nil {
			t.Errorf("an identical registration was given management of the first registrant's client: %v", reg)
		}
	}
	if n := unusedClients(t) - before; n != 1 {
		t.Errorf("four identical registrations left %d unused clients, want 1", n)
	}
	// The first registrant still manages it.
	if status, _ := s.doJSON(t, "GET", first["registration_client_uri"].(string), first["registration_access_token"].(string), nil); status != http.StatusOK {
		t.Errorf("the first registration access token stopped working: %d", status)
	}

	// Another name, or a confidential client, is another client.
	other := map[string]any{"redirect_uris": []string{cb}, "client_name": "Another connector", "token_endpoint_auth_method": "none"}
	if _, reg := s.doJSON(t, "POST", registerURL, "", other); reg["client_id"] == first["client_id"] {
		t.Errorf("a different name was answered with the same client")
	}
	confidential := map[string]any{"redirect_uris": []string{cb}, "client_name": "Confidential", "resource": "https://acme.mcp.10x.in/mcp"}
	_, c1 := s.doJSON(t, "POST", registerURL, "", confidential)
	_, c2 := s.doJSON(t, "POST", registerURL, "", confidential)
	if c1["client_id"] == c2["client_id"] || c1["client_secret"] == nil || c2["client_secret"] == nil {
		t.Errorf("identical confidential registrations must each get their own client and secret: %v %v", c1, c2)
	}

	// Once approved the client is used: it is no longer handed out, and it
	// counts on the handle it was approved on.
	verifier, challenge := pkce()
	clientID := first["client_id"].(string)
	loc := s.signInAndApprove(t, authorizeURL(challenge, url.Values{"client_id": {clientID}, "redirect_uri": {cb}}))
	if status, tok := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {clientID},
		"redirect_uri": {cb}, "code_verifier": {verifier}}); status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", status, tok)
	}
	used := getClient(t, clientID)
	if used.Labels[registry.LabelUnused] != "" || used.Labels[registry.LabelDigest] != "" || used.Labels[mcpv1alpha1.LabelHandle] != "acme" {
		t.Errorf("the approved client's labels: %v", used.Labels)
	}
	// It was given to four registrations, which may be four people on four
	// handles: it stays unbound, and another member approves it on another
	// handle.
	if used.Spec.Handle != "" || used.Spec.Gateway || used.Annotations[registry.SharedAnnotation] != "true" {
		t.Errorf("the shared client was bound by its first approval: %+v %v", used.Spec, used.Annotations)
	}
	if err := env.Client.Create(context.Background(), &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "second"}, Spec: mcpv1alpha1.HandleSpec{
		Members: []mcpv1alpha1.HandleMember{{User: "alice@example.com"}}}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	loc = s.signInAndApprove(t, authorizeURL(challenge, url.Values{"client_id": {clientID}, "redirect_uri": {cb}, "resource": {"https://second.mcp.10x.in/mcp"}}))
	if loc.Query().Get("code") == "" {
		t.Errorf("the shared client approved on a second handle: %s", loc)
	}
	if _, reg := s.doJSON(t, "POST", registerURL, "", md); reg["client_id"] == clientID || reg["registration_access_token"] == nil {
		t.Errorf("a registration identical to a used client was answered with it: %v", reg)
	}
}

func TestRegistrationCaps(t *testing.T) {
	ctx := context.Background()
	if err := env.Client.Create(ctx, &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "capped"}, Spec: mcpv1alpha1.HandleSpec{
		Members: []mcpv1alpha1.HandleMember{{User: "alice@example.com", Scopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read"}}}}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// The apiserver is shared with the other tests: the global cap is
	// four more than the unused clients they left.
	limits := registry.Limits{UnusedTTL: time.Hour, MaxUnused: unusedClients(t) + 4, MaxPerHandle: 2}
	s := newStack(t, func(srv *runtime.Server) { srv.Registry.Limits = limits })
	register := func(name, resource string) (int, map[string]any) {
		md := map[string]any{"redirect_uris": []string{callback}, "client_name": name, "token_endpoint_auth_method": "none"}
		if resource != "" {
			md["resource"] = resource
		}
		return s.doJSON(t, "POST", registerURL, "", md)
	}
	status, late := register("approved later", "")
	if status != http.StatusCreated {
		t.Fatalf("registration: %d %v", status, late)
	}

	// Per handle: two clients registered for capped, the third refused.
	for i := range 2 {
		if status, reg := register("capped "+strconv.Itoa(i), "https://capped.mcp.10x.in/mcp"); status != http.StatusCreated {
			t.Fatalf("registration %d for capped: %d %v", i, status, reg)
		}
	}
	status, out := register("capped 2", "https://capped.mcp.10x.in/mcp")
	if status != http.StatusForbidden || out["error"] != "access_denied" {
		t.Errorf("beyond the handle's cap: %d %v, want 403 access_denied", status, out)
	}

	// Platform-wide: one more unused client fits, the next is refused
	// with a retry time, and an identical registration is still answered.
	status, last := register("unbound 0", "")
	if status != http.StatusCreated {
		t.Fatalf("the last unused client: %d %v", status, last)
	}
	status, out = register("unbound 1", "")
	if status != http.StatusServiceUnavailable || out["error"] != "temporarily_unavailable" {
		t.Errorf("beyond the unused cap: %d %v, want 503 temporarily_unavailable", status, out)
	}
	if status, reg := register("unbound 0", ""); status != http.StatusCreated || reg["client_id"] != last["client_id"] {
		t.Errorf("an identical registration at the cap: %d %v", status, reg)
	}

	// The first approval counts too: an unbound client approved on a full
	// handle is refused back to the client with access_denied.
	_, challenge := pkce()
	loc := s.signInAndApprove(t, authorizeURL(challenge, url.Values{"client_id": {late["client_id"].(string)}, "resource": {"https://capped.mcp.10x.in/mcp"}}))
	if loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
		t.Errorf("approval on a full handle redirected to %s, want error=access_denied", loc)
	}
	if c := getClient(t, late["client_id"].(string)); c.Spec.Handle != "" || c.Labels[registry.LabelUnused] != "true" {
		t.Errorf("the refused client was bound or marked used: %+v %v", c.Spec, c.Labels)
	}
}

// staleReader answers List with what it listed first, as a replica's
// cache may while another replica approves a client.
type staleReader struct {
	ctrlclient.Reader
	list *mcpv1alpha1.OAuthClientList
}

func (r *staleReader) List(ctx context.Context, l ctrlclient.ObjectList, opts ...ctrlclient.ListOption) error {
	if r.list == nil {
		r.list = &mcpv1alpha1.OAuthClientList{}
		if err := r.Reader.List(ctx, r.list, opts...); err != nil {
			return err
		}
	}
	r.list.DeepCopyInto(l.(*mcpv1alpha1.OAuthClientList))
	return nil
}

func TestUnusedClientsExpire(t *testing.T) {
	ctx := context.Background()
	s := newStack(t)
	const cb = "https://chatgpt.com/connector/oauth/cb_expire"
	register := func(name string) string {
		status, reg := s.doJSON(t, "POST", registerURL, "", map[string]any{"redirect_uris": []string{cb}, "client_name": name, "token_endpoint_auth_method": "none"})
		if status != http.StatusCreated {
			t.Fatalf("registration: %d %v", status, reg)
		}
		return reg["client_id"].(string)
	}
	unused, approved, racing := register("expires"), register("approved"), register("approved while a replica sweeps")
	_, challenge := pkce()
	approve := func(clientID string) {
		if loc := s.signInAndApprove(t, authorizeURL(challenge, url.Values{"client_id": {clientID}, "redirect_uri": {cb}})); loc.Query().Get("code") == "" {
			t.Fatalf("approval of %s: %s", clientID, loc)
		}
	}
	approve(approved)
	// A client registered before the labels existed is never expired.
	legacy := &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "dcr-legacy-unlabelled"}, Spec: mcpv1alpha1.OAuthClientSpec{
		ClientName: "legacy", RedirectURIs: []mcpv1alpha1.RedirectURI{cb}, Registration: mcpv1alpha1.RegistrationDynamic}}
	if err := env.Client.Create(ctx, legacy); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	// A replica whose cache still lists racing as unused sweeps after the
	// approval: the resourceVersion precondition keeps it.
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	cache := &staleReader{Reader: env.Client}
	if err := cache.List(ctx, &mcpv1alpha1.OAuthClientList{}, ctrlclient.MatchingLabels{registry.LabelUnused: "true"}); err != nil {
		t.Fatal(err)
	}
	var trail bytes.Buffer
	stale := &registry.Registry{Client: env.Client, Reader: cache, Limits: registry.Limits{UnusedTTL: time.Hour}, Now: later,
		Audit: &audit.Auditor{Log: slog.New(slog.NewJSONHandler(&trail, nil))}}
	approve(racing)
	sweeper := &registry.Registry{Client: env.Client, Limits: registry.Limits{UnusedTTL: time.Hour}}
	if n, err := sweeper.Expire(ctx); err != nil || n != 0 {
		t.Errorf("a sweep before the TTL deleted %d (%v)", n, err)
	}
	if _, err := stale.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{racing, approved, legacy.Name} {
		if err := env.Client.Get(ctx, types.NamespacedName{Name: name}, &mcpv1alpha1.OAuthClient{}); err != nil {
			t.Errorf("client %s: %v", name, err)
		}
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: unused}, &mcpv1alpha1.OAuthClient{}); !apierrors.IsNotFound(err) {
		t.Errorf("the unused client outlived its TTL: %v", err)
	}
	// The sweep is audited, under an id of its own, for what it deleted only.
	removed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(trail.String()), "\n") {
		var entry map[string]string
		_ = json.Unmarshal([]byte(line), &entry)
		if entry["action"] == string(audit.ClientRemoved) {
			removed[entry["name"]] = entry["request_id"]
		}
	}
	if id, ok := removed[unused]; !ok || id == "" || removed[racing] != "" {
		t.Errorf("the sweep's audit trail %v, want %s removed with a request id and %s not", removed, unused, racing)
	}
}

// staleCache lists the OAuthClients it was given, as an informer cache that
// has not seen the latest writes yet.
type staleCache struct {
	ctrlclient.Reader
	clients []mcpv1alpha1.OAuthClient
}

func (c staleCache) List(_ context.Context, list ctrlclient.ObjectList, _ ...ctrlclient.ListOption) error {
	list.(*mcpv1alpha1.OAuthClientList).Items = c.clients
	return nil
}

// A client another replica has just approved is not handed to a new
// registrant, although this replica's cache still lists it as unused: the
// new registrant would be bound to the other's resource.
func TestIdenticalRegistrationAfterApprovalElsewhere(t *testing.T) {
	ctx := context.Background()
	cfg, err := platform.Load("../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	md := registry.Metadata{RedirectURIs: []string{"http://127.0.0.1:33418/callback"}, ClientName: "Approved elsewhere", TokenEndpointAuthMethod: "none"}
	first := &registry.Registry{Client: env.Client, Config: cfg, Namespace: cfg.Namespace}
	reg, err := first.Register(ctx, md)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := []mcpv1alpha1.OAuthClient{*getClient(t, reg.ClientID)}
	res, _ := cfg.ResourceOf(cfg.HostedURL("acme"))
	if err := first.Bind(ctx, reg.ClientID, res); err != nil {
		t.Fatal(err)
	}
	other := &registry.Registry{Client: env.Client, Reader: staleCache{Reader: env.Client, clients: snapshot}, Config: cfg, Namespace: cfg.Namespace}
	again, err := other.Register(ctx, md)
	if err != nil || again.ClientID == reg.ClientID || again.RegistrationAccessToken == "" {
		t.Fatalf("a registration identical to a client approved elsewhere: %+v, %v; want a new client", again, err)
	}
}
