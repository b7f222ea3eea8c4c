package connectors_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/10xdotin/mcp-handle-operator/internal/connect"
	"github.com/10xdotin/mcp-handle-operator/test/framework/loadgen"
)

// Profile is what one connector sends, request by request (profiles/*.json).
type Profile struct {
	Client  string `json:"client"`
	Summary string `json:"summary"`
	// URL is the MCP URL the user pastes: hosted, gateway or compat.
	URL string `json:"url"`
	// Sources name the pages steps cite.
	Sources map[string]string `json:"sources"`
	// Loopback is the client's callback listener on a port the operating
	// system picks at run time: {loopback_port}.
	Loopback *struct {
		Host string `json:"host"`
		Path string `json:"path"`
	} `json:"loopback,omitempty"`
	// Document is the client's client ID metadata document, served over
	// https at Path: its URL is {cimd_url}.
	Document *struct {
		Path string          `json:"path"`
		Body json.RawMessage `json:"body"`
	} `json:"client_id_metadata_document,omitempty"`
	// Vars are set before the first step (after {callback_id} and the
	// run-time values), in order of their names.
	Vars  map[string]string `json:"vars,omitempty"`
	Steps []Step            `json:"steps"`
}

// Step is one request, or the browser's part of an authorization (the
// authorization request, sign-in, consent and the callback).
type Step struct {
	Name      string     `json:"name"`
	Request   *Request   `json:"request,omitempty"`
	Authorize *Authorize `json:"authorize,omitempty"`
	Expect    Expect     `json:"expect"`
	// Capture sets variables from the answer: json:PATH, header:NAME,
	// challenge:PARAM (the Bearer challenge), callback:PARAM (the
	// authorization's callback query).
	Capture   map[string]string `json:"capture,omitempty"`
	Source    string            `json:"source"`
	Confirmed bool              `json:"confirmed"`
	Note      string            `json:"note,omitempty"`
}

// Request is sent as written, after {variables} are replaced.
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Form    map[string]string `json:"form,omitempty"`
	JSON    json.RawMessage   `json:"json,omitempty"`
}

// Authorize is the authorization request's parameters; {code_verifier},
// {code_challenge} and {state} are new for each.
type Authorize struct {
	Endpoint string            `json:"endpoint"`
	Params   map[string]string `json:"params"`
}

// Expect is what the answer must be. Paths are dotted; a segment ending in
// [] steps into every element of an array.
type Expect struct {
	Status    int               `json:"status,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`   // the header contains the text
	JSON      map[string]any    `json:"json,omitempty"`      // the value at the path equals
	JSONNot   map[string]any    `json:"json_not,omitempty"`  // the value at the path is not
	Contains  map[string]string `json:"contains,omitempty"`  // a value at the path is, or a string contains, the text
	Absent    []string          `json:"absent,omitempty"`    // nothing at the path
	Challenge map[string]string `json:"challenge,omitempty"` // the Bearer challenge's parameter contains the text
	// Redirect is where the browser must be sent after approval: the
	// callback URL, followed by ?code=...&state=...&iss=....
	Redirect string `json:"redirect,omitempty"`
}

func TestConnectorProfiles(t *testing.T) {
	files, err := filepath.Glob("profiles/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no profiles: %v", err)
	}
	s := newStack(t)
	for _, f := range files {
		p := loadProfile(t, f)
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) { s.replay(t, p) })
	}
}

func loadProfile(t *testing.T, file string) *Profile {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	calls := 0
	for i, st := range p.Steps {
		if (st.Request == nil) == (st.Authorize == nil) || st.Name == "" {
			t.Fatalf("%s: step %d needs a name and either request or authorize", file, i)
		}
		if _, ok := p.Sources[st.Source]; !ok {
			t.Fatalf("%s: step %s cites source %q, which sources does not list", file, st.Name, st.Source)
		}
		if !st.Confirmed && st.Note == "" {
			t.Fatalf("%s: step %s is not confirmed and has no note saying why", file, st.Name)
		}
		if st.Request != nil && strings.Contains(string(st.Request.JSON), `"tools/call"`) {
			calls++
		}
	}
	if calls == 0 {
		t.Fatalf("%s: the profile never calls a tool", file)
	}
	return &p
}

// run is one replay: variables, the client's HTTP client (no cookies), the
// user's browser (its own cookies) and the consents given so far.
type run struct {
	t        *testing.T
	s        *stack
	p        *Profile
	vars     map[string]string
	api      *http.Client
	browser  *http.Client
	callback chan url.Values
	consents int
	called   bool
}

func (s *stack) replay(t *testing.T, p *Profile) {
	jar, _ := cookiejar.New(nil)
	r := &run{t: t, s: s, p: p, api: s.httpClient(nil), browser: s.httpClient(jar), vars: map[string]string{
		"issuer": s.cfg.Issuer, "callback_id": strings.ToLower(rand.Text()[:12]),
	}}
	switch p.URL {
	case "hosted":
		r.vars["mcp_url"] = s.cfg.HostedURL(handle)
	case "gateway":
		r.vars["mcp_url"] = s.cfg.SharedGatewayURL()
	case "compat":
		r.vars["mcp_url"] = s.cfg.CompatibilityURL(handle)
	default:
		t.Fatalf("url %q: want hosted, gateway or compat", p.URL)
	}
	if p.Loopback != nil {
		r.listen()
	}
	if p.Document != nil {
		r.vars["cimd_url"] = s.docs.put(r.expand(p.Document.Path), nil)
		s.docs.put(r.expand(p.Document.Path), []byte(r.expandJSON(p.Document.Body)))
	}
	names := make([]string, 0, len(p.Vars))
	for n := range p.Vars {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r.vars[n] = r.expand(p.Vars[n])
	}
	for _, st := range p.Steps {
		if st.Authorize != nil {
			r.authorize(st)
		} else {
			r.request(st)
		}
	}
}

// listen starts the client's loopback callback listener on a port the
// operating system picks, as RFC 8252 section 7.3 lets a native client do.
func (r *run) listen() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	r.callback = make(chan url.Values, 4)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == r.p.Loopback.Path {
			r.callback <- req.URL.Query()
		}
		_, _ = io.WriteString(w, "You may close this window.")
	})}
	go func() { _ = srv.Serve(l) }()
	r.t.Cleanup(func() { _ = srv.Close() })
	r.vars["loopback_port"] = fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

var placeholder = regexp.MustCompile(`\{([a-z][a-z0-9_]*)\}`)

// expand replaces {variables}; an unknown one fails the replay.
func (r *run) expand(s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		v, ok := r.vars[m[1:len(m)-1]]
		if !ok {
			r.t.Fatalf("%s: unknown variable %s (known: %v)", r.p.Client, m, keys(r.vars))
		}
		return v
	})
}

// expandJSON replaces {variables} inside a JSON text's strings.
func (r *run) expandJSON(raw json.RawMessage) string {
	return placeholder.ReplaceAllStringFunc(string(raw), func(m string) string {
		s, _ := json.Marshal(r.expand(m))
		return string(s[1 : len(s)-1])
	})
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// answer is a response with its body read and, when it is JSON (or an SSE
// stream of JSON-RPC messages: the last one), parsed.
type answer struct {
	resp *http.Response
	body []byte
	json any
}

func (r *run) send(c *http.Client, req *http.Request) *answer {
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	a := &answer{resp: resp}
	a.body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	data := a.body
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for line := range strings.Lines(string(a.body)) {
			if d, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data:"); ok {
				data = []byte(d)
			}
		}
	}
	_ = json.Unmarshal(data, &a.json)
	return a
}

func (r *run) request(st Step) {
	q := st.Request
	var body io.Reader
	switch {
	case q.Form != nil:
		form := url.Values{}
		for k, v := range q.Form {
			form.Set(k, r.expand(v))
		}
		body = strings.NewReader(form.Encode())
	case q.JSON != nil:
		body = strings.NewReader(r.expandJSON(q.JSON))
	}
	req, err := http.NewRequest(q.Method, r.expand(q.URL), body)
	if err != nil {
		r.t.Fatalf("step %s: %v", st.Name, err)
	}
	for k, v := range q.Headers {
		req.Header.Set(k, r.expand(v))
	}
	a := r.send(r.api, req)
	r.check(st, req, a)
	if strings.Contains(string(q.JSON), `"tools/call"`) && !r.called {
		r.called = true
		if r.consents != 1 {
			r.t.Errorf("%s: the first successful tools/call came after %d consents, want one", r.p.Client, r.consents)
		}
	}
}

// authorize is the user's browser: the authorization request, sign-in when
// the browser has no session, approval on the consent page (without scope
// fields: what was requested), and the redirect to the client's callback,
// which a loopback client's listener receives.
func (r *run) authorize(st Step) {
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	r.vars["code_verifier"], r.vars["code_challenge"], r.vars["state"] = verifier, base64.RawURLEncoding.EncodeToString(sum[:]), rand.Text()
	q := url.Values{}
	for k, v := range st.Authorize.Params {
		q.Set(k, r.expand(v))
	}
	authURL := r.expand(st.Authorize.Endpoint) + "?" + q.Encode()
	get := func(u string) (*http.Request, *answer) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		return req, r.send(r.browser, req)
	}
	post := func(path string, form url.Values) (*http.Request, *answer) {
		req, _ := http.NewRequest(http.MethodPost, r.vars["issuer"]+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req, r.send(r.browser, req)
	}
	req, a := get(authURL)
	if loc := a.resp.Header.Get("Location"); a.resp.StatusCode == http.StatusFound && strings.HasPrefix(loc, "/ui/login?") {
		if req, a = get(r.vars["issuer"] + loc); a.resp.StatusCode == http.StatusOK {
			form := loadgen.FormFields(string(a.body))
			form.Set("email", email)
			form.Set("password", password)
			if req, a = post("/ui/login", form); a.resp.StatusCode == http.StatusSeeOther {
				req, a = get(r.vars["issuer"] + a.resp.Header.Get("Location"))
			}
		}
	}
	if a.resp.StatusCode != http.StatusOK || !bytes.Contains(a.body, []byte(`name="decision"`)) {
		r.fail(st, req, a, "no consent page")
	}
	form := submitted(string(a.body))
	form.Set("decision", "approve")
	req, a = post("/ui/consent", form)
	r.consents++
	loc, err := url.Parse(a.resp.Header.Get("Location"))
	want := r.expand(st.Expect.Redirect)
	switch {
	case a.resp.StatusCode != http.StatusSeeOther || err != nil:
		r.fail(st, req, a, "approval did not redirect")
	case want == "" || !strings.HasPrefix(loc.String(), want+"?"):
		r.fail(st, req, a, "approval redirected elsewhere than "+want)
	case loc.Query().Get("error") != "":
		r.fail(st, req, a, "approval redirected with an error")
	case loc.Query().Get("code") == "" || loc.Query().Get("state") != r.vars["state"] || loc.Query().Get("iss") != r.vars["issuer"]:
		r.fail(st, req, a, "the callback lacks the code, the state or iss (RFC 9207)")
	}
	cb := loc.Query()
	if r.callback != nil && loc.Scheme == "http" {
		// The browser follows the redirect to the client's listener.
		get(loc.String())
		select {
		case cb = <-r.callback:
		case <-time.After(5 * time.Second):
			r.fail(st, req, a, "the loopback listener received no callback")
		}
	}
	for name, from := range st.Capture {
		src, param, _ := strings.Cut(from, ":")
		if src != "callback" {
			r.t.Fatalf("step %s: an authorize step captures callback:PARAM only, not %s", st.Name, from)
		}
		r.vars[name] = cb.Get(param)
	}
}

var input = regexp.MustCompile(`<input\s[^>]*>`)
var attr = regexp.MustCompile(`(\w+)(?:="([^"]*)")?`)

// submitted is what a browser submits from the consent page's form when the
// user changes nothing: its hidden fields and the checked radio buttons
// (the handle on the shared URL) and enabled checkboxes.
func submitted(page string) url.Values {
	form := url.Values{}
	for _, tag := range input.FindAllString(page, -1) {
		a := map[string]string{}
		for _, m := range attr.FindAllStringSubmatch(tag[len("<input"):], -1) {
			a[m[1]] = html.UnescapeString(m[2])
		}
		_, checked := a["checked"]
		if _, disabled := a["disabled"]; disabled {
			continue // browsers do not submit disabled controls
		}
		if a["name"] != "" && (a["type"] == "hidden" || (a["type"] == "radio" || a["type"] == "checkbox") && checked) {
			form.Add(a["name"], a["value"])
		}
	}
	return form
}

// check applies a step's expectations and captures.
func (r *run) check(st Step, req *http.Request, a *answer) {
	e := st.Expect
	if e.Status != 0 && a.resp.StatusCode != e.Status {
		r.fail(st, req, a, fmt.Sprintf("status %d, want %d", a.resp.StatusCode, e.Status))
	}
	for h, want := range e.Headers {
		if got := strings.Join(a.resp.Header.Values(h), ", "); !strings.Contains(got, r.expand(want)) {
			r.fail(st, req, a, fmt.Sprintf("header %s is %q, want it to contain %q", h, got, r.expand(want)))
		}
	}
	for path, want := range e.JSON {
		if got := values(a.json, path); len(got) != 1 || !reflect.DeepEqual(got[0], r.expandValue(want)) {
			r.fail(st, req, a, fmt.Sprintf("%s is %v, want %v", path, got, r.expandValue(want)))
		}
	}
	for path, not := range e.JSONNot {
		for _, got := range values(a.json, path) {
			if reflect.DeepEqual(got, r.expandValue(not)) {
				r.fail(st, req, a, fmt.Sprintf("%s is %v", path, got))
			}
		}
	}
	for path, want := range e.Contains {
		want = r.expand(want)
		if !slices.ContainsFunc(values(a.json, path), func(v any) bool { s, ok := v.(string); return ok && strings.Contains(s, want) }) {
			r.fail(st, req, a, fmt.Sprintf("%s is %v, want a value containing %q", path, values(a.json, path), want))
		}
	}
	for _, path := range e.Absent {
		if got := values(a.json, path); len(got) > 0 {
			r.fail(st, req, a, fmt.Sprintf("%s is %v, want nothing there", path, got))
		}
	}
	bearer := r.challenge(a)
	for param, want := range e.Challenge {
		if got := bearer[param]; !strings.Contains(got, r.expand(want)) {
			r.fail(st, req, a, fmt.Sprintf("challenge %s=%q, want it to contain %q", param, got, r.expand(want)))
		}
	}
	for name, from := range st.Capture {
		src, arg, _ := strings.Cut(from, ":")
		var v string
		switch src {
		case "json":
			var parts []string
			for _, x := range values(a.json, arg) {
				parts = append(parts, fmt.Sprint(x))
			}
			v = strings.Join(parts, " ")
		case "header":
			v = a.resp.Header.Get(arg)
		case "challenge":
			v = bearer[arg]
		default:
			r.t.Fatalf("step %s: capture %s: want json:, header: or challenge:", st.Name, from)
		}
		r.vars[name] = v
	}
}

// challenge returns the Bearer challenge's parameters, or none.
func (r *run) challenge(a *answer) map[string]string {
	out := map[string]string{}
	cs, err := connect.ParseWWWAuthenticate(a.resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return out
	}
	b, ok := connect.Bearer(cs)
	if !ok {
		return out
	}
	out["resource_metadata"], out["scope"], out["error"] = b.ResourceMetadata, strings.Join(b.Scope, " "), b.Error
	return out
}

func (r *run) expandValue(v any) any {
	if s, ok := v.(string); ok {
		return r.expand(s)
	}
	return v
}

// values returns what a dotted path names in a parsed JSON value.
func values(v any, path string) []any {
	cur := []any{v}
	for seg := range strings.SplitSeq(path, ".") {
		name, each := strings.CutSuffix(seg, "[]")
		var next []any
		for _, c := range cur {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			x, ok := m[name]
			if !ok {
				continue
			}
			if arr, isArr := x.([]any); each && isArr {
				next = append(next, arr...)
			} else if !each {
				next = append(next, x)
			}
		}
		cur = next
	}
	return cur
}

// fail stops the profile at a step, saying what the client sent, what it
// got, and how sure the profile is that the client sends it.
func (r *run) fail(st Step, req *http.Request, a *answer, why string) {
	r.t.Helper()
	confirmed := "confirmed"
	if !st.Confirmed {
		confirmed = "NOT confirmed: " + st.Note
	}
	body := string(a.body)
	if len(body) > 1500 {
		body = body[:1500] + "..."
	}
	r.t.Fatalf("%s, step %q (%s; %s): %s\n> %s %s\n< %d WWW-Authenticate: %q Location: %q\n%s",
		r.p.Client, st.Name, r.p.Sources[st.Source], confirmed, why, req.Method, req.URL, a.resp.StatusCode,
		a.resp.Header.Values("WWW-Authenticate"), a.resp.Header.Get("Location"), body)
}
