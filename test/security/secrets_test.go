package security

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// secretName matches the names of values that are, or are derived from,
// credentials.
var secretName = regexp.MustCompile(`(?i)(secret|password|passwd|hash|nonce|verifier|challenge|csrf|signature|^sig$|mac$|token$|^code$|^state$)`)

// compared are the comparisons that are not constant-time although a
// credential's name is involved, each with why that is safe. Keys are
// file:expression.
var compared = map[string]string{
	// The CSRF nonce is compared after ks.Open verified the HMAC of the
	// sealed token: a forger cannot produce a token to time.
	"runtime/web/session.go:got == nonce": "after HMAC verification",
}

// TestSecretComparisonsAreConstantTime is a static check (a timing test is
// not reliable on a shared 2-core machine): in the runtime's and internal
// packages' non-test sources, no == or != or bytes.Equal compares a value
// named like a credential with anything but a constant or a length; those go
// through subtle.ConstantTimeCompare, hmac.Equal or tokens.HashEqual. It also
// checks that the known comparison sites still use them.
func TestSecretComparisonsAreConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	root := "../.."
	var files int
	seen := map[string]bool{}
	for _, dir := range []string{"runtime", "internal", "cmd/runtime"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			files++
			rel, _ := filepath.Rel(root, path)
			ast.Inspect(f, func(n ast.Node) bool {
				var x, y ast.Expr
				switch e := n.(type) {
				case *ast.BinaryExpr:
					if e.Op != token.EQL && e.Op != token.NEQ {
						return true
					}
					x, y = e.X, e.Y
				case *ast.CallExpr:
					if sel, ok := e.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Equal" && isIdent(sel.X, "bytes") && len(e.Args) == 2 {
						x, y = e.Args[0], e.Args[1]
					} else {
						return true
					}
				default:
					return true
				}
				if constant(x) || constant(y) || !secretName.MatchString(name(x)) && !secretName.MatchString(name(y)) {
					return true
				}
				expr := rel + ":" + render(x) + " " + op(n) + " " + render(y)
				seen[expr] = true
				if _, ok := compared[expr]; !ok {
					t.Errorf("%s: %s is not a constant-time comparison", fset.Position(n.Pos()), expr)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 50 {
		t.Fatalf("only %d files checked", files)
	}
	// The allowed exceptions are found, so the scan sees comparisons.
	for expr := range compared {
		if !seen[expr] {
			t.Errorf("the allowed comparison %s was not found: the check or the list is stale", expr)
		}
	}
	// The known sites still compare in constant time.
	for file, want := range map[string]string{
		"runtime/oauth/client_auth.go": "subtle.ConstantTimeCompare([]byte(want), []byte(secret))",
		"runtime/tokens/opaque.go":     "subtle.ConstantTimeCompare([]byte(Hash(token)), []byte(hash))",
		"runtime/tokens/keys.go":       "hmac.Equal(",
		"runtime/grants/store.go":      "subtle.ConstantTimeCompare([]byte(want), []byte(challenge))",
		"runtime/web/oidc.go":          "subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(flow.Nonce))",
		"runtime/registry/registry.go": "tokens.HashEqual(token, hash)",
	} {
		src := readSource(t, filepath.Join(root, file))
		if !strings.Contains(src, want) {
			t.Errorf("%s no longer contains %s", file, want)
		}
	}
}

func readSource(t *testing.T, path string) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	ast.Inspect(f, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			b.WriteString(render(c))
			b.WriteString("\n")
		}
		return true
	})
	return b.String()
}

func isIdent(e ast.Expr, n string) bool { id, ok := e.(*ast.Ident); return ok && id.Name == n }

func op(n ast.Node) string {
	if b, ok := n.(*ast.BinaryExpr); ok {
		return b.Op.String()
	}
	return "bytes.Equal"
}

// constant reports whether an operand is a literal, nil, a constant name, a
// length or a call (a lookup result compared with a value of its own).
func constant(e ast.Expr) bool {
	switch v := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return v.Name == "nil" || v.Name == "true" || v.Name == "false" || v.Obj != nil && v.Obj.Kind == ast.Con
	case *ast.CallExpr:
		return isIdent(v.Fun, "len")
	case *ast.SelectorExpr:
		// Package constants such as mcpv1alpha1.TokenEndpointAuthNone or
		// oautherr.InsufficientScope (compared with an error's code).
		return isIdent(v.X, "mcpv1alpha1") || isIdent(v.X, "http") || isIdent(v.X, "platform") || isIdent(v.X, "oautherr")
	}
	return false
}

// name is the last name of an operand: x, a.b.c -> c, f(...) -> f, x[i] -> x.
func name(e ast.Expr) string {
	switch v := e.(type) {
	case *ast.Ident:
		return v.Name
	case *ast.SelectorExpr:
		return v.Sel.Name
	case *ast.CallExpr:
		if sel, ok := v.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Get" && len(v.Args) == 1 {
			return render(v.Args[0])
		}
		return name(v.Fun)
	case *ast.IndexExpr:
		return name(v.X)
	case *ast.StarExpr:
		return name(v.X)
	case *ast.ParenExpr:
		return name(v.X)
	}
	return ""
}

func render(e ast.Expr) string {
	var b strings.Builder
	var walk func(ast.Expr)
	walk = func(e ast.Expr) {
		switch v := e.(type) {
		case *ast.Ident:
			b.WriteString(v.Name)
		case *ast.BasicLit:
			b.WriteString(v.Value)
		case *ast.SelectorExpr:
			walk(v.X)
			b.WriteString("." + v.Sel.Name)
		case *ast.CallExpr:
			walk(v.Fun)
			b.WriteString("(")
			for i, a := range v.Args {
				if i > 0 {
					b.WriteString(", ")
				}
				walk(a)
			}
			b.WriteString(")")
		case *ast.ArrayType:
			b.WriteString("[]")
			walk(v.Elt)
		case *ast.IndexExpr:
			walk(v.X)
			b.WriteString("[")
			walk(v.Index)
			b.WriteString("]")
		case *ast.StarExpr:
			b.WriteString("*")
			walk(v.X)
		case *ast.ParenExpr:
			b.WriteString("(")
			walk(v.X)
			b.WriteString(")")
		case *ast.UnaryExpr:
			b.WriteString(v.Op.String())
			walk(v.X)
		case *ast.BinaryExpr:
			walk(v.X)
			b.WriteString(" " + v.Op.String() + " ")
			walk(v.Y)
		default:
			b.WriteString("…")
		}
	}
	walk(e)
	return b.String()
}

// TestNoSecretsInLogsOrEvents runs every flow that handles a credential —
// dynamic registration of a confidential client (secret and registration
// access token), RFC 7592 reads, sign-in with a password, consent, code
// exchange, refresh, a reused refresh token, revocation, and MCP requests
// with valid, foreign and revoked tokens — then asserts that none of those
// values appears in anything the runtime logged through slog since the suite
// started, in the HTTP servers' error logs, in any Kubernetes Event, nor in
// the annotations or status of the objects it wrote (which hold hashes).
func TestNoSecretsInLogsOrEvents(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	var secrets []string
	keep := func(v any) string {
		str, _ := v.(string)
		if str == "" {
			t.Fatalf("missing credential: %v", v)
		}
		secrets = append(secrets, str)
		return str
	}
	keep(password)

	body := []byte(`{"redirect_uris":["https://logs.example/cb"],"client_name":"logs","resource":"https://acme.mcp.10x.in/mcp"}`)
	r := s.register(t, body)
	var reg map[string]any
	if err := json.Unmarshal([]byte(r.body), &reg); err != nil || r.StatusCode != http.StatusCreated {
		t.Fatalf("registration: %d %s", r.StatusCode, r.body)
	}
	id, clientSecret, regToken := reg["client_id"].(string), keep(reg["client_secret"]), keep(reg["registration_access_token"])
	req, _ := http.NewRequest("GET", reg["registration_client_uri"].(string), nil)
	req.Header.Set("Authorization", "Bearer "+regToken)
	if r := s.send(t, req); r.StatusCode != http.StatusOK {
		t.Fatalf("RFC 7592 read: %d %s", r.StatusCode, r.body)
	}
	req, _ = http.NewRequest("GET", reg["registration_client_uri"].(string), nil)
	req.Header.Set("Authorization", "Bearer "+regToken+"x")
	s.send(t, req)

	page := s.consent(t, authorizeURL(url.Values{"client_id": {id}, "redirect_uri": {"https://logs.example/cb"}}))
	code := keep(s.approve(t, page))
	tokenReq := func(form url.Values) map[string]any {
		req, _ := http.NewRequest("POST", issuer+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, clientSecret)
		r := s.send(t, req)
		var out map[string]any
		_ = json.Unmarshal([]byte(r.body), &out)
		return out
	}
	tok := tokenReq(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://logs.example/cb"}, "code_verifier": {verifier}})
	access, refresh := keep(tok["access_token"]), keep(tok["refresh_token"])
	tokenReq(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://logs.example/cb"}, "code_verifier": {verifier}})
	for _, u := range []string{acmeURL, issuer + "/mcp", "https://beta.mcp.10x.in/mcp"} {
		s.rpc(t, u, access, "initialize")
	}
	fresh := s.acmeToken(t)
	access2, refresh2 := keep(fresh["access_token"]), keep(fresh["refresh_token"])
	s.rpc(t, acmeURL, access2, "initialize")
	s.rpc(t, acmeURL, access2, "tools/list")
	rotated := tokenReqPublic(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh2}, "client_id": {"sec-acme"}})
	keep(rotated["access_token"])
	keep(rotated["refresh_token"])
	tokenReqPublic(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh2}, "client_id": {"sec-acme"}}) // reuse: revokes
	s.rpc(t, acmeURL, access2, "initialize")                                                                                  // revoked
	s.do(t, "POST", issuer+"/oauth/revoke", url.Values{"token": {refresh}, "client_id": {id}, "client_secret": {clientSecret}})

	// Session and CSRF values, from the cookie jar and the last form.
	for _, c := range s.jar.Cookies(&url.URL{Scheme: "https", Host: "ai.10x.in", Path: "/"}) {
		keep(c.Value)
	}

	var haystack strings.Builder
	haystack.WriteString(logs.String())
	haystack.WriteString(s.errlog.String())
	var events corev1.EventList
	if err := env.Client.List(ctx, &events); err != nil {
		t.Fatal(err)
	}
	var newEvents eventsv1.EventList
	if err := env.Client.List(ctx, &newEvents); err != nil {
		t.Fatal(err)
	}
	for _, list := range []any{events.Items, newEvents.Items} {
		b, _ := json.Marshal(list)
		haystack.Write(b)
	}
	var conns mcpv1alpha1.ConnectionList
	var clients mcpv1alpha1.OAuthClientList
	if err := env.Client.List(ctx, &conns); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.List(ctx, &clients); err != nil {
		t.Fatal(err)
	}
	for _, list := range []any{conns.Items, clients.Items} {
		b, _ := json.Marshal(list)
		haystack.Write(b)
	}
	all := haystack.String()
	for _, secret := range secrets {
		if strings.Contains(all, secret) {
			t.Errorf("a credential (%.12s...) appears in the logs, events or objects", secret)
		}
	}
	for _, prefix := range []string{"mcpv1_", "mcpr1_", "mcpc1_", "mcpreg1_"} {
		if i := strings.Index(all, prefix); i >= 0 {
			t.Errorf("a %s value appears: %.80s", prefix, all[i:])
		}
	}
	t.Logf("searched %d bytes: %d of slog output, %d of server error logs, %d events, %d grants, %d clients",
		len(all), len(logs.String()), len(s.errlog.String()), len(events.Items)+len(newEvents.Items), len(conns.Items), len(clients.Items))
}

func tokenReqPublic(t *testing.T, s *stack, form url.Values) map[string]any {
	t.Helper()
	r := s.do(t, "POST", issuer+"/oauth/token", form)
	var out map[string]any
	_ = json.Unmarshal([]byte(r.body), &out)
	return out
}
