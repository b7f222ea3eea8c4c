package runtime

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
)

// TestJWKS: the gateway host publishes the upstream token keys at the
// jwks_uri of the metadata, and a token of the Minter verifies with them.
func TestJWKS(t *testing.T) {
	s := testServer(t)
	secret, err := upstream.NewKeySecret("mcp-system", upstream.DefaultSecretName, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s.Upstream, err = upstream.NewMinter(s.Config.Issuer, secret); err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	_, body := fetch(t, h, "ai.10x.in", "/.well-known/oauth-authorization-server")
	var as struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(body), &as); err != nil {
		t.Fatal(err)
	}
	if as.JWKSURI != "https://ai.10x.in/.well-known/jwks.json" {
		t.Fatalf("jwks_uri %q", as.JWKSURI)
	}
	resp, body := fetch(t, h, "ai.10x.in", "/.well-known/jwks.json")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") == "" {
		t.Fatalf("status %d, Cache-Control %q: %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatal(err)
	}
	token, err := s.Upstream.Mint("https://links.example/mcp", upstream.Claims{Handle: "acme", Subject: "alice", ClientID: "c"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	var c jwt.Claims
	if len(keys) != 1 {
		t.Fatalf("kid %s not published", tok.Headers[0].KeyID)
	}
	if err := tok.Claims(keys[0].Key, &c); err != nil || c.Issuer != "https://ai.10x.in" {
		t.Fatalf("%v, iss %q", err, c.Issuer)
	}

	// Only on the gateway host; 404 when the runtime mints no tokens.
	if resp, _ := fetch(t, h, "acme.mcp.10x.in", "/.well-known/jwks.json"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("hosted host: %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, testServer(t).Handler(), "ai.10x.in", "/.well-known/jwks.json"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("without a Minter: %d", resp.StatusCode)
	}
}
