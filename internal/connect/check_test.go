package connect_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/10xdotin/mcp-handle-operator/internal/connect"
	"github.com/10xdotin/mcp-handle-operator/test/framework/connecttest"
)

// tlsServer serves h on 127.0.0.1 with a certificate for names only.
func tlsServer(t *testing.T, h http.Handler, names ...string) (port int, c *connect.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	cert, caFile := connecttest.CertificateFor(t, names...)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := connect.New(connect.Options{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	return srv.Listener.Addr().(*net.TCPAddr).Port, c
}

func TestCheckTLS(t *testing.T) {
	port, c := tlsServer(t, http.NotFoundHandler(), "localhost")
	ctx := context.Background()
	res, err := c.CheckTLS(ctx, fmt.Sprintf("https://localhost:%d/mcp", port))
	if err != nil || !res.Loopback || !slices.Equal(res.Names, []string{"localhost"}) || res.Version == "" {
		t.Fatalf("localhost: %+v %v", res, err)
	}
	// A name the certificate does not cover: a TLS failure.
	_, err = c.CheckTLS(ctx, fmt.Sprintf("https://acme.mcp.localhost:%d/mcp", port))
	var re *connect.RequestError
	if !errors.As(err, &re) || re.Kind != connect.FailureTLS || re.Step != connect.StepTLS {
		t.Fatalf("hosted name: %v", err)
	}
	// A name that cannot resolve (RFC 6761: .invalid never does).
	_, err = c.CheckTLS(ctx, "https://acme.mcp.doctor.invalid/mcp")
	if !errors.As(err, &re) || re.Kind != connect.FailureDNS {
		t.Fatalf(".invalid: %v", err)
	}
}

func TestProbeAuthorizeReadsTheAnswer(t *testing.T) {
	const cb = "https://chatgpt.com/connector/oauth/cb_x"
	var seen []string
	port, c := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		seen = append(seen, q.Get("code_challenge_method")+" "+fmt.Sprint(len(q.Get("code_challenge")))+" "+q.Get("resource"))
		switch q.Get("client_id") {
		case "signin":
			http.Redirect(w, r, "/ui/login?req=sealed", http.StatusFound)
		case "target":
			http.Redirect(w, r, q.Get("redirect_uri")+"?error=invalid_target&error_description=no+such+resource&state="+q.Get("state"), http.StatusFound)
		default:
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`<main><p class="error" role="alert">redirect_uri &#34;x&#34; is not registered</p>
<p class="muted">Error code: <code>invalid_request</code></p></main>`))
		}
	}), "localhost")
	endpoint := fmt.Sprintf("https://localhost:%d/oauth/authorize", port)
	ctx := context.Background()
	res, err := c.ProbeAuthorize(ctx, endpoint, connect.AuthorizeParams{ClientID: "signin", RedirectURI: cb, Resource: "https://r/mcp"})
	if err != nil || !res.Accepted() || res.ToRedirectURI || res.Location != "/ui/login?req=sealed" {
		t.Fatalf("sign-in: %+v %v", res, err)
	}
	res, err = c.ProbeAuthorize(ctx, endpoint, connect.AuthorizeParams{ClientID: "target", RedirectURI: cb, Resource: "https://r/mcp"})
	if err != nil || res.Accepted() || !res.ToRedirectURI || res.Error != "invalid_target" || res.ErrorDescription != "no such resource" {
		t.Fatalf("invalid_target: %+v %v", res, err)
	}
	res, err = c.ProbeAuthorize(ctx, endpoint, connect.AuthorizeParams{ClientID: "other", RedirectURI: cb})
	if err != nil || res.Accepted() || res.ToRedirectURI || res.Status != 400 || res.PageError != "invalid_request" ||
		res.PageMessage != `redirect_uri "x" is not registered` {
		t.Fatalf("error page: %+v %v", res, err)
	}
	if seen[0] != "S256 43 https://r/mcp" {
		t.Errorf("the request: %v", seen)
	}
}

func TestCallMCPReadsEventStreamsAndChallenges(t *testing.T) {
	port, c := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Mcp-Session-Id", "s1")
			// A notification first, as the runtime sends after the tools
			// changed, then the response.
			_, _ = w.Write([]byte("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n" +
				"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}\n\n"))
		default:
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="https://x/.well-known/oauth-protected-resource/mcp", scope="mcp.connect skills.read", error="insufficient_scope"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"error":"insufficient_scope","error_description":"needs skills.read"}`))
		}
	}), "localhost")
	u := fmt.Sprintf("https://localhost:%d/mcp", port)
	ctx := context.Background()
	call, err := c.CallMCP(ctx, u, "good", "", "tools/list", nil)
	if err != nil || call.SessionID != "s1" {
		t.Fatalf("%+v %v", call, err)
	}
	if names, err := connect.ToolNames(call.Result); err != nil || strings.Join(names, ",") != "a,b" {
		t.Fatalf("tools %v %v", names, err)
	}
	call, err = c.CallMCP(ctx, u, "narrow", "", "tools/list", nil)
	var se *connect.StatusError
	if !errors.As(err, &se) || call.Status != 403 || call.OAuthError != "insufficient_scope" || call.Bearer == nil ||
		strings.Join(call.Bearer.Scope, " ") != "mcp.connect skills.read" {
		t.Fatalf("%+v %v", call, err)
	}
}
