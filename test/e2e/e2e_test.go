// Package e2e_test runs the whole product as real processes on loopback and
// drives it the way production traffic does, through the real Gateway:
// test/framework/stack (shared with `make run`) starts the control plane with the
// garbage collector, cert-manager's controller with the local CA, the
// operator, two runtime replicas behind the runtime Service's clusterIP,
// Traefik and the Links toolset, on free ports; the suite adds
// @modelcontextprotocol/server-everything as a third-party Toolset. Then the
// official MCP TypeScript SDK client (test/clients' scripts), bin/mcpctl and
// headless Chromium go through Traefik over TLS, trusting only the local CA.
package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/test/framework/connecttest"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/edge"
	"github.com/10xdotin/mcp-handle-operator/test/framework/stack"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testbrowser"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

const (
	// runtimeIP is the runtime Service's clusterIP in this suite: not the
	// local stack's 127.0.100.10, so both run side by side.
	runtimeIP = "127.0.100.20"
	// beta is the handle the suite applies: a second handle of the dev
	// user, with the Links and the third-party toolset.
	beta = "beta"
	// everythingToolset is @modelcontextprotocol/server-everything.
	everythingToolset = "everything"
	// The clients' redirect URIs: never served (the scripts read the code
	// from the redirect), except the browser's, served by the test.
	sdkRedirect       = "http://127.0.0.1:33418/callback"
	connectorCallback = "https://chatgpt.com/connector/oauth/cb_e2e"
	unregistered      = "https://chatgpt.com/connector/oauth/cb_unregistered"
)

func betaYAML() string {
	return fmt.Sprintf(`apiVersion: mcp.10x.in/v1alpha1
kind: Handle
metadata:
  name: %s
spec:
  displayName: Beta Ltd.
  members:
    - user: %s
      role: Admin
  scopes: [mcp.connect, skills.read, links.read, links.write]
  toolsets:
    - name: links
    - name: %s
`, beta, stack.DevUser, everythingToolset)
}

// suite is the running stack and what the steps share.
type suite struct {
	s       *stack.Stack
	root    string
	node    string
	kubectl string
	hc      *http.Client
	port    int
	keys    *runtime.KeyRing
	// acmeToken is the SDK client's access token on acme's hosted URL.
	acmeToken string
}

func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole product")
	}
	total := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root := controlplane.RepoRoot()
	logs := artifacts(t, "logs")
	e := &suite{root: root}

	timed(t, "build bin/manager, runtime, mcpctl, links-toolset", func() error {
		return controlplane.BuildCommands(filepath.Join(root, "bin"), "./cmd/manager", "./cmd/runtime", "./cmd/mcpctl", "./cmd/links-toolset")
	})
	timed(t, "find node (hack/node.sh)", func() (err error) { e.node, err = findNode(); return err })
	chromium := testbrowser.ChromiumPath(t)
	timed(t, "build (or find) traefik and cert-manager", func() error {
		if _, err := edge.TraefikBinary(); err != nil {
			return err
		}
		_, err := edge.CertManagerBinary()
		return err
	})
	bins, err := controlplane.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	e.kubectl = filepath.Join(bins, "kubectl")

	public := freeAddr(t, "127.0.0.1")
	e.port = public.Port
	runtimePort := freeAddr(t, runtimeIP).Port
	opts := stack.Options{
		BinDir: filepath.Join(root, "bin"), Dir: t.TempDir(), LogDir: logs,
		PublicPort: e.port, RuntimeServiceIP: runtimeIP, RuntimePort: runtimePort,
		RuntimeAddrs: []string{freeAddr(t, "127.0.0.1").String(), freeAddr(t, "127.0.0.1").String()},
		LinksAddr:    freeAddr(t, "127.0.0.1").String(), ManagerProbeAddr: "127.0.0.1:0",
		OIDC: startDex(t, ctx, public.Port),
		Step: func(msg string) { t.Logf("stack: %s", msg) },
	}
	timed(t, "start the stack (test/framework/stack)", func() (err error) { e.s, err = stack.Start(ctx, opts); return err })
	t.Cleanup(e.s.Stop)
	e.hc = e.s.HTTPClient()
	if e.keys, err = runtime.LoadKeyRing(ctx, e.s.Env.Client, stack.Namespace, "mcp-runtime-signing-keys"); err != nil {
		t.Fatal(err)
	}

	var everythingURL string
	timed(t, "start server-everything (the third-party Toolset)", func() (err error) {
		everythingURL, err = e.startEverything(t)
		return err
	})
	if err := e.s.Env.Client.Create(ctx, &mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: everythingToolset},
		Spec: mcpv1alpha1.ToolsetSpec{URL: everythingURL}}); err != nil {
		t.Fatal(err)
	}

	ok := t.Run("edge status and the certificate", e.edgeStatus)
	ok = t.Run("a new handle is reachable through the gateway", e.newHandle) && ok
	if !ok {
		t.FailNow()
	}
	t.Run("the SDK client on the hosted, shared and compatibility URLs", e.sdkClient)
	t.Run("mcpctl setup and doctor; an unregistered callback", e.mcpctl)
	t.Run("chromium: sign-in, handle picker, consent, MCP & Tools", func(t *testing.T) { e.browser(t, chromium) })
	t.Run("sign-in through Dex, an OpenID Connect provider, behind the Gateway", e.dexSignIn)
	t.Run("deleting a grant revokes its token", e.revoke)
	t.Logf("whole suite: %s", time.Since(total).Round(100*time.Millisecond))
}

// edgeStatus: Traefik wrote the routes' status, cert-manager issued the
// certificate, the operator and the runtime wrote the Handle's conditions,
// and the client sees the certificate of the local CA.
func (e *suite) edgeStatus(t *testing.T) {
	ctx := context.Background()
	c := e.s.Env.Client
	for _, name := range []string{"handle-" + stack.SampleHandle, "mcp-platform"} {
		timed(t, "HTTPRoute "+name+" Accepted and ResolvedRefs by traefik", func() error {
			return e.routeAccepted(ctx, name)
		})
	}
	timed(t, "Handle acme RouteAccepted, CertificateReady, Serving, Ready", func() error {
		return e.handleReady(ctx, stack.SampleHandle)
	})
	secret := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: stack.Namespace, Name: e.s.Config.TLS.SecretName}, secret); err != nil {
		t.Fatal(err)
	}
	issued := connecttest.ParsePEM(t, secret.Data[corev1.TLSCertKey])
	crt := &certmanagerv1.Certificate{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: stack.Namespace, Name: "mcp-platform"}, crt); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(crt.Status.Conditions, func(c certmanagerv1.CertificateCondition) bool {
		return c.Type == certmanagerv1.CertificateConditionReady && c.Status == cmmeta.ConditionTrue
	}) {
		t.Errorf("Certificate mcp-platform is not Ready: %+v", crt.Status.Conditions)
	}

	prm := strings.Replace(e.s.Config.HostedURL(stack.SampleHandle), "/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
	resp, err := e.hc.Get(prm) //nolint:noctx
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	peer := resp.TLS.PeerCertificates[0]
	t.Logf("the client saw: subject %q, DNS names %q, issuer CN %q, serial %s", peer.Subject.CommonName, peer.DNSNames, peer.Issuer.CommonName, peer.SerialNumber)
	if resp.StatusCode != http.StatusOK || peer.Issuer.CommonName != stack.CAName || !peer.Equal(issued) {
		t.Errorf("HTTP %d, certificate issuer %q serial %s; want 200 and the Secret's certificate (issuer %s, serial %s)",
			resp.StatusCode, peer.Issuer.CommonName, peer.SerialNumber, stack.CAName, issued.SerialNumber)
	}
	// Only the local CA is trusted: the chain the client verified ends there.
	if chains := resp.TLS.VerifiedChains; len(chains) != 1 || chains[0][len(chains[0])-1].Subject.CommonName != stack.CAName {
		t.Errorf("verified chains %d", len(chains))
	}
}

// newHandle applies a Handle with kubectl and measures until its hosted URL
// answers the runtime's 401 through Traefik.
func (e *suite) newHandle(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "beta.yaml")
	if err := os.WriteFile(file, []byte(betaYAML()), 0o600); err != nil {
		t.Fatal(err)
	}
	hosted := e.s.Config.HostedURL(beta)
	// Before: no route names the host, Traefik answers its own 404.
	if status, _ := e.post401(hosted); status != http.StatusNotFound {
		t.Fatalf("%s before the handle exists: HTTP %d, want traefik's 404", hosted, status)
	}
	applied := time.Now()
	cmd := exec.Command(e.kubectl, "apply", "-f", file)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.s.Kubeconfig)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v: %s", err, out)
	}
	kubectlDone := time.Since(applied)
	accepted := make(chan time.Duration, 1)
	go func() {
		if err := e.routeAccepted(ctx, "handle-"+beta); err == nil {
			accepted <- time.Since(applied)
		}
		close(accepted)
	}()
	var first time.Duration
	var challenge string
	err := poll(ctx, 30*time.Second, 10*time.Millisecond, func() (bool, error) {
		status, hdr := e.post401(hosted)
		if status == http.StatusUnauthorized {
			first, challenge = time.Since(applied), hdr
			return true, nil
		}
		return false, fmt.Errorf("HTTP %d", status)
	})
	if err != nil {
		t.Fatalf("%s never answered 401: %v", hosted, err)
	}
	acc, okAcc := <-accepted
	t.Logf("handle %s: kubectl apply returned after %s; route Accepted by traefik after %s; first 401 from %s after %s (%s after Accepted)",
		beta, kubectlDone.Round(time.Millisecond), acc.Round(time.Millisecond), hosted, first.Round(time.Millisecond), (first - acc).Round(time.Millisecond))
	if !okAcc {
		t.Errorf("the route handle-%s was never Accepted", beta)
	}
	if want := `resource_metadata="` + strings.TrimSuffix(hosted, "/mcp") + `/.well-known/oauth-protected-resource/mcp"`; !strings.Contains(challenge, want) {
		t.Errorf("the 401's challenge %q lacks %s", challenge, want)
	}
	const bound = 5 * time.Second
	if first > bound {
		t.Errorf("apply to first 401: %s, want under %s", first, bound)
	}
	timed(t, "Handle beta RouteAccepted, CertificateReady, Serving, Ready", func() error { return e.handleReady(ctx, beta) })
	timed(t, "HTTPRoute handle-beta-compat Accepted and ResolvedRefs by traefik", func() error {
		return e.routeAccepted(ctx, "handle-"+beta+"-compat")
	})
	compatPRM := strings.Replace(e.s.Config.CompatibilityURL(beta), "/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
	timed(t, "GET "+compatPRM+" answers 200", func() error {
		return poll(ctx, 10*time.Second, 50*time.Millisecond, func() (bool, error) {
			resp, err := e.hc.Get(compatPRM) //nolint:noctx
			if err != nil {
				return false, err
			}
			_ = resp.Body.Close()
			return resp.StatusCode == http.StatusOK, fmt.Errorf("HTTP %d", resp.StatusCode)
		})
	})
}

// post401 sends initialize without a token; the runtime answers 401.
func (e *suite) post401(mcpURL string) (int, string) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, mcpURL, strings.NewReader(body)) //nolint:noctx
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := e.hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// mcpFlow is one flow as test/clients/mcp-client.mjs reports it.
type mcpFlow struct {
	ServerURL     string `json:"serverUrl"`
	AccessToken   string `json:"accessToken"`
	ServerVersion struct {
		Name string `json:"name"`
	} `json:"serverVersion"`
	ProtocolVersion string `json:"protocolVersion"`
	SessionID       string `json:"sessionId"`
	Tools           []struct {
		Name string `json:"name"`
	} `json:"tools"`
	Read          toolResult `json:"read"`
	Write         toolResult `json:"write"`
	WriteRequests []struct {
		Status          int    `json:"status"`
		WWWAuthenticate string `json:"wwwAuthenticate"`
		Error           string `json:"error"`
	} `json:"writeRequests"`
	Consents []struct {
		GrantedScope string `json:"grantedScope"`
	} `json:"consents"`
	FinalScope string   `json:"finalScope"`
	Requests   []string `json:"requests"`
}

type toolResult struct {
	Content []struct {
		Text string `json:"text"`
	} `json:"content"`
	IsError bool `json:"isError"`
}

// sdkClient runs test/clients/mcp-client.mjs (the SDK's Client with
// StreamableHTTPClientTransport and an OAuthClientProvider, its default
// flow) through Traefik: acme's hosted URL, the shared URL picking beta, and
// beta's compatibility URL, where the user clears links.write at consent and
// links_create_link takes the step-up.
func (e *suite) sdkClient(t *testing.T) {
	cfg := e.s.Config
	links := map[string]any{"name": "links_list_links", "arguments": map[string]any{}}
	echo := map[string]any{"name": everythingToolset + "_echo", "arguments": map[string]any{"message": "hello through traefik"}}
	type flow struct {
		url, handle string
		read        map[string]any
	}
	flows := []flow{
		{cfg.HostedURL(stack.SampleHandle), stack.SampleHandle, links},
		{cfg.GatewayURL(), beta, echo},
		{cfg.CompatibilityURL(beta), beta, links},
	}
	var specs []map[string]any
	for i, f := range flows {
		spec := map[string]any{"serverUrl": f.url, "handle": f.handle, "readTool": f.read,
			"writeTool": map[string]any{"name": "links_create_link", "arguments": map[string]any{"path": fmt.Sprintf("/e2e-%d", i), "target": "https://example.com/e2e"}}}
		if i == 2 {
			spec["uncheck"] = []string{"links.write"}
		}
		specs = append(specs, spec)
	}
	spec, _ := json.Marshal(specs)
	start := time.Now()
	out := e.runNode(t, []string{"MCP_FLOWS=" + string(spec), "MCP_EMAIL=" + stack.DevUser, "MCP_PASSWORD=" + e.s.DevPassword,
		"MCP_REDIRECT_URL=" + sdkRedirect}, filepath.Join(e.root, "test", "clients", "mcp-client.mjs"))
	t.Logf("mcp-client.mjs, three OAuth flows and sessions through traefik: %s", time.Since(start).Round(time.Millisecond))
	var result struct {
		Flows []mcpFlow `json:"flows"`
	}
	if err := json.Unmarshal(out, &result); err != nil || len(result.Flows) != len(flows) {
		t.Fatalf("mcp-client.mjs printed (%v):\n%s", err, out)
	}
	linksTools := []string{"links_create_link", "links_delete_link", "links_list_links"}
	for i, f := range result.Flows {
		want := flows[i]
		t.Run(want.url, func(t *testing.T) {
			a, err := e.keys.Keys().VerifyAccess(f.AccessToken, time.Now())
			stepUp := i == 2
			if err != nil || a.Handle != want.handle || len(f.Consents) == 0 || strings.Contains(f.Consents[0].GrantedScope, "links.write") != !stepUp {
				t.Fatalf("access token for %+v (%v), consents %+v; want handle %s, links.write granted at once unless cleared", a, err, f.Consents, want.handle)
			}
			prm := strings.Replace(want.url, "/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
			if !slices.Contains(f.Requests, "GET "+prm+" 200") || !slices.Contains(f.Requests, "POST "+cfg.Issuer+"/oauth/token 200") {
				t.Errorf("the OAuth flow's requests lack discovery at %s or the code exchange:\n%s", prm, strings.Join(f.Requests, "\n"))
			}
			if f.ServerVersion.Name != "mcp-handle-operator" || f.ProtocolVersion != "2025-11-25" || f.SessionID == "" {
				t.Errorf("connected to %q at %q, session %q", f.ServerVersion.Name, f.ProtocolVersion, f.SessionID)
			}
			var names []string
			everything := 0
			for _, tool := range f.Tools {
				names = append(names, tool.Name)
				if strings.HasPrefix(tool.Name, everythingToolset+"_") {
					everything++
				}
			}
			for _, n := range linksTools {
				if !slices.Contains(names, n) {
					t.Errorf("tools/list lacks %s: %v", n, names)
				}
			}
			if (want.handle == beta) != (everything > 0) || (want.handle == beta && !slices.Contains(names, everythingToolset+"_echo")) {
				t.Errorf("handle %s lists %d tools of server-everything: %v", want.handle, everything, names)
			}
			wantText := want.handle + " has no links."
			switch {
			case want.read["name"] != "links_list_links":
				wantText = "Echo: hello through traefik"
			case i == 2: // the shared URL's flow created a link on beta
				wantText = "/e2e-1 → https://example.com/e2e"
			}
			if f.Read.IsError || len(f.Read.Content) != 1 || f.Read.Content[0].Text != wantText {
				t.Errorf("%s: %+v, want %q", want.read["name"], f.Read, wantText)
			}
			if f.Write.IsError || len(f.Write.Content) != 1 || !strings.HasPrefix(f.Write.Content[0].Text, "Created /e2e-") {
				t.Errorf("links_create_link: %+v", f.Write)
			}
			// The step-up: the 403, the refresh refused, one more consent.
			if stepUp && (len(f.Consents) != 2 || !strings.Contains(f.FinalScope, "links.write") || len(f.WriteRequests) < 3 ||
				f.WriteRequests[0].Status != http.StatusForbidden || !strings.Contains(f.WriteRequests[0].WWWAuthenticate, `error="insufficient_scope"`) ||
				f.WriteRequests[1].Error != "invalid_grant") {
				t.Errorf("step-up: consents %+v, final scope %q, requests %+v", f.Consents, f.FinalScope, f.WriteRequests)
			}
			if want.handle == stack.SampleHandle {
				e.acmeToken = f.AccessToken
			}
			t.Logf("%s: %d tools (%d of server-everything), %s answered %q", want.url, len(names), everything, want.read["name"], f.Read.Content[0].Text)
		})
	}
}

// mcpctl registers a connector with setup-chatgpt-mcp-oauth and checks it
// with doctor; then doctor and the authorization endpoint on an
// unregistered callback.
func (e *suite) mcpctl(t *testing.T) {
	base := fmt.Sprintf("localhost:%d", e.port)
	out, err := e.runMcpctl(t, "setup-chatgpt-mcp-oauth", "--base-domain", base, "--handle", stack.SampleHandle,
		"--redirect-uri", connectorCallback, "--ca-file", e.s.CAFile, "-o", "json")
	if err != nil {
		t.Fatalf("setup-chatgpt-mcp-oauth: %v\n%s", err, out)
	}
	var setup struct {
		MCPServerURL string   `json:"mcp_server_url"`
		ClientID     string   `json:"client_id"`
		RedirectURIs []string `json:"redirect_uris"`
		Action       string   `json:"action"`
	}
	if err := json.Unmarshal(out, &setup); err != nil || setup.ClientID == "" || setup.Action != "registered" ||
		setup.MCPServerURL != e.s.Config.HostedURL(stack.SampleHandle) || !slices.Equal(setup.RedirectURIs, []string{connectorCallback}) {
		t.Fatalf("setup printed (%v):\n%s", err, out)
	}
	t.Logf("registered connector %s for %s", setup.ClientID, setup.MCPServerURL)
	client := &mcpv1alpha1.OAuthClient{}
	if err := poll(context.Background(), 10*time.Second, 100*time.Millisecond, func() (bool, error) {
		list := &mcpv1alpha1.OAuthClientList{}
		if err := e.s.Env.Client.List(context.Background(), list); err != nil {
			return false, err
		}
		for i := range list.Items {
			if list.Items[i].Status.ClientID == setup.ClientID || list.Items[i].Name == setup.ClientID {
				client = &list.Items[i]
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Errorf("no OAuthClient for %s in the apiserver: %v", setup.ClientID, err)
	} else if client.Spec.Handle != stack.SampleHandle {
		t.Errorf("OAuthClient %s: handle %q", client.Name, client.Spec.Handle)
	}

	args := []string{"doctor", "--base-domain", base, "--handle", stack.SampleHandle, "--client-id", setup.ClientID,
		"--redirect-uri", connectorCallback, "--ca-file", e.s.CAFile}
	if e.acmeToken != "" {
		args = append(args, "--token", e.acmeToken)
	} else {
		t.Error("no access token from the SDK flow on acme: doctor runs without --token")
	}
	out, err = e.runMcpctl(t, args...)
	t.Logf("mcpctl %s\n%s", strings.Join(redact(args), " "), out)
	if err != nil {
		t.Errorf("doctor failed: %v", err)
	}
	for _, step := range []string{"dns-tls hosted", "challenge", "resource-metadata", "authorization-server", "auth-server-metadata", "callback", "token", "tools-list"} {
		if !regexpLine(out, "PASS  "+step) {
			t.Errorf("doctor did not PASS %s", step)
		}
	}
	if strings.Contains(string(out), "FAIL") {
		t.Errorf("doctor reports a FAIL")
	}

	// The troubleshooting row: the connector's callback is not registered.
	// doctor names the row; the authorization endpoint answers an error
	// page and redirects nowhere.
	bad := []string{"doctor", "--base-domain", base, "--handle", stack.SampleHandle, "--client-id", setup.ClientID,
		"--redirect-uri", unregistered, "--ca-file", e.s.CAFile}
	out, err = e.runMcpctl(t, bad...)
	t.Logf("mcpctl %s\n%s", strings.Join(bad, " "), out)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !regexpLine(out, "FAIL  callback") ||
		!strings.Contains(string(out), "OAuth reaches token exchange, then fails on callback allowlisting") {
		t.Errorf("doctor on an unregistered callback: %v; want exit 1, FAIL callback and the callback allowlisting row", err)
	}
	q := url.Values{"client_id": {setup.ClientID}, "redirect_uri": {unregistered}, "response_type": {"code"}, "state": {"e2e"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
		"resource": {e.s.Config.HostedURL(stack.SampleHandle)}, "scope": {"mcp.connect"}}
	noRedirect := *e.hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Get(e.s.Config.Issuer + "/oauth/authorize?" + q.Encode()) //nolint:noctx
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	t.Logf("authorize with an unregistered callback: HTTP %d, %s, Location %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(page), "is not registered for this client") {
		t.Errorf("authorize with an unregistered callback: HTTP %d, Location %q, %s:\n%s; want an error page (400) and no redirect",
			resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Content-Type"), page)
	}
}

// revoke deletes the grant (Connection) of the SDK client's acme token and
// waits until the MCP endpoint refuses the token.
func (e *suite) revoke(t *testing.T) {
	if e.acmeToken == "" {
		t.Fatal("no access token from the SDK flow on acme")
	}
	a, err := e.keys.Keys().VerifyAccess(e.acmeToken, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hosted := e.s.Config.HostedURL(stack.SampleHandle)
	if status, _ := e.initialize(hosted, e.acmeToken); status != http.StatusOK {
		t.Fatalf("initialize with the token before the delete: HTTP %d", status)
	}
	conn := &mcpv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Name: a.Grant}}
	deleted := time.Now()
	if err := e.s.Env.Client.Delete(context.Background(), conn); err != nil {
		t.Fatalf("delete Connection %s: %v", a.Grant, err)
	}
	var challenge string
	if err := poll(context.Background(), 15*time.Second, 20*time.Millisecond, func() (bool, error) {
		status, hdr := e.initialize(hosted, e.acmeToken)
		challenge = hdr
		return status == http.StatusUnauthorized, fmt.Errorf("HTTP %d", status)
	}); err != nil {
		t.Fatalf("the token of the deleted grant %s still works: %v", a.Grant, err)
	}
	t.Logf("grant %s deleted; its token refused after %s: %s", a.Grant, time.Since(deleted).Round(time.Millisecond), challenge)
	// Both replicas refuse it (each request is a new connection, the
	// balancer alternates).
	for range 4 {
		if status, _ := e.initialize(hosted, e.acmeToken); status != http.StatusUnauthorized {
			t.Errorf("a later request with the revoked token: HTTP %d", status)
		}
	}
	err = e.s.Env.Client.Get(context.Background(), types.NamespacedName{Name: a.Grant}, &mcpv1alpha1.Connection{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Connection %s after the delete: %v", a.Grant, err)
	}
}

func (e *suite) initialize(mcpURL, token string) (int, string) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, mcpURL, strings.NewReader(body)) //nolint:noctx
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// routeAccepted waits until Traefik has Accepted and resolved the route.
func (e *suite) routeAccepted(ctx context.Context, name string) error {
	return poll(ctx, 60*time.Second, 20*time.Millisecond, func() (bool, error) {
		r := &gatewayv1.HTTPRoute{}
		if err := e.s.Env.Client.Get(ctx, types.NamespacedName{Namespace: stack.Namespace, Name: name}, r); err != nil {
			return false, err
		}
		for _, p := range r.Status.Parents {
			if p.ControllerName == edge.TraefikControllerName && string(p.ParentRef.Name) == "mcp-gateway" &&
				meta.IsStatusConditionTrue(p.Conditions, string(gatewayv1.RouteConditionAccepted)) &&
				meta.IsStatusConditionTrue(p.Conditions, string(gatewayv1.RouteConditionResolvedRefs)) {
				return true, nil
			}
		}
		return false, fmt.Errorf("parents %+v", r.Status.Parents)
	})
}

// handleReady waits until the Handle's four conditions are True.
func (e *suite) handleReady(ctx context.Context, name string) error {
	return poll(ctx, 60*time.Second, 100*time.Millisecond, func() (bool, error) {
		h := &mcpv1alpha1.Handle{}
		if err := e.s.Env.Client.Get(ctx, types.NamespacedName{Name: name}, h); err != nil {
			return false, err
		}
		for _, c := range []string{mcpv1alpha1.HandleConditionRouteAccepted, mcpv1alpha1.HandleConditionCertificateReady,
			mcpv1alpha1.HandleConditionServing, mcpv1alpha1.HandleConditionReady} {
			if !meta.IsStatusConditionTrue(h.Status.Conditions, c) {
				return false, fmt.Errorf("%s not True: %+v", c, h.Status.Conditions)
			}
		}
		return true, nil
	})
}

// startEverything starts server-everything's Streamable HTTP transport with
// Node from hack/node.sh, from test/clients/node_modules.
func (e *suite) startEverything(t *testing.T) (string, error) {
	port := freeAddr(t, "127.0.0.1").Port
	ctx, cancel := context.WithCancel(context.Background())
	cmd := e.nodeCommand(ctx, []string{fmt.Sprintf("PORT=%d", port)},
		"node_modules/@modelcontextprotocol/server-everything/dist/index.js", "streamableHttp")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		cancel()
		return "", err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return "", err
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	ready := make(chan struct{})
	var transcript bytes.Buffer
	go func() {
		scanner := bufio.NewScanner(stderr)
		signalled := false
		for scanner.Scan() {
			transcript.WriteString(scanner.Text() + "\n")
			if !signalled && strings.Contains(scanner.Text(), fmt.Sprintf("listening on port %d", port)) {
				close(ready)
				signalled = true
			}
		}
	}()
	select {
	case <-ready:
		return fmt.Sprintf("http://127.0.0.1:%d/mcp", port), nil
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("server-everything did not start within 30s")
	}
}

// nodeCommand runs Node in test/clients (so node_modules resolves) trusting
// only the local CA besides Node's own roots.
func (e *suite) nodeCommand(ctx context.Context, extraEnv []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.node, args...)
	cmd.Dir = filepath.Join(e.root, "test", "clients")
	cmd.Env = append(os.Environ(), append([]string{"NODE_EXTRA_CA_CERTS=" + e.s.CAFile, "NO_COLOR=1"}, extraEnv...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (e *suite) runNode(t *testing.T, extraEnv []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.nodeCommand(ctx, extraEnv, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n--- stdout\n%s\n--- stderr\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// runMcpctl runs bin/mcpctl and returns its stdout; stderr (progress) is
// logged.
func (e *suite) runMcpctl(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.root, "bin", "mcpctl"), args...)
	cmd.Env = append(os.Environ(), "MCPCTL_TOKEN=", "MCPCTL_REGISTRATION_ACCESS_TOKEN=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("mcpctl %s (stderr):\n%s", args[0], stderr.String())
	}
	return stdout.Bytes(), err
}

func regexpLine(out []byte, prefix string) bool {
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

// redact hides the token value in a logged command line.
func redact(args []string) []string {
	out := slices.Clone(args)
	for i := range out {
		if i > 0 && out[i-1] == "--token" {
			out[i] = "$TOKEN"
		}
	}
	return out
}

// findNode takes Node from NODE or runs hack/node.sh, which installs Node
// and test/clients' packages when missing.
func findNode() (string, error) { return controlplane.Tool("NODE", "node.sh") }

// artifacts returns test/artifacts/e2e/<name>/, emptied first and ignored
// by git.
func artifacts(t *testing.T, name string) string {
	t.Helper()
	root := filepath.Join(controlplane.RepoRoot(), "test", "artifacts")
	dir := filepath.Join(root, "e2e", name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".gitignore"), []byte("# test artifacts (screenshots), never committed\n*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func freeAddr(t *testing.T, host string) *net.TCPAddr {
	t.Helper()
	a, err := stack.FreeAddr(host)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := net.ResolveTCPAddr("tcp", a)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func timed(t *testing.T, what string, f func() error) {
	t.Helper()
	start := time.Now()
	err := f()
	t.Logf("%-60s %s", what, time.Since(start).Round(10*time.Millisecond))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// poll is waitfor.PollEvery for a check that says whether it is done (and
// why not): the e2e timings are its figures, so the interval is the
// caller's.
func poll(ctx context.Context, timeout, interval time.Duration, check func() (bool, error)) error {
	return waitfor.PollEvery(ctx, interval, timeout, "the check", func() error {
		done, err := check()
		switch {
		case done:
			return nil
		case err == nil:
			return errors.New("not done")
		}
		return err
	})
}

// spki is the base64 SHA-256 of a certificate's public key, for Chromium's
// --ignore-certificate-errors-spki-list.
func spki(crt *x509.Certificate) string {
	sum := sha256.Sum256(crt.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
