package runtime_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/registry"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testruntime"
)

// hangingAPIServer accepts connections and never answers: the worst kind of
// apiserver outage, where nothing is refused and everything waits.
func hangingAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		for _, c := range held {
			_ = c.Close()
		}
	})
	return &rest.Config{Host: "http://" + l.Addr().String()}
}

// With the apiserver hanging, the informer caches (here: reads of the live
// apiserver) still serve clients, handles and users, but every grant write
// fails within the direct client's timeout with temporarily_unavailable, on
// the consent page, the token endpoint and dynamic registration alike.
func TestApiserverDownAnswersTemporarilyUnavailable(t *testing.T) {
	const timeout = time.Second
	down, err := runtime.NewDirectClient(hangingAPIServer(t), scheme.New(), timeout)
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, func(srv *runtime.Server) {
		srv.Grants = &grants.Store{Client: down, Reader: down, CodeTTL: time.Minute, Now: time.Now}
		srv.Registry = &registry.Registry{Client: down, Config: srv.Config, Namespace: srv.Config.Namespace}
	})
	_, challenge := pkce()
	within := func(t *testing.T, started time.Time) {
		t.Helper()
		if took := time.Since(started); took > timeout+2*time.Second {
			t.Errorf("answered after %s; want within the %s apiserver timeout", took, timeout)
		}
	}

	t.Run("consent", func(t *testing.T) {
		form := testruntime.FormFields(t, s.signIn(t, authorizeURL(challenge, nil), "alice@example.com"))
		form.Set("decision", "approve")
		started := time.Now()
		resp, body := s.do(t, "POST", "https://ai.10x.in/ui/consent", form)
		within(t, started)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Location") != "" || !strings.Contains(body, "temporarily_unavailable") {
			t.Errorf("consent with the apiserver down: %d Location=%q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	})
	t.Run("token", func(t *testing.T) {
		refresh, _ := tokens.NewOpaque(tokens.RefreshPrefix, "conn-"+tokens.RandomID())
		started := time.Now()
		status, out := s.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"acme-chatgpt"}})
		within(t, started)
		if status != http.StatusServiceUnavailable || out["error"] != "temporarily_unavailable" {
			t.Errorf("refresh with the apiserver down: %d %v", status, out)
		}
	})
	t.Run("registration", func(t *testing.T) {
		started := time.Now()
		status, out := s.doJSON(t, "POST", "https://ai.10x.in/oauth/register", "", map[string]any{
			"redirect_uris": []string{"https://chatgpt.com/connector/oauth/cb_down"}, "token_endpoint_auth_method": "none"})
		within(t, started)
		if status != http.StatusServiceUnavailable || out["error"] != "temporarily_unavailable" {
			t.Errorf("registration with the apiserver down: %d %v", status, out)
		}
	})
}
