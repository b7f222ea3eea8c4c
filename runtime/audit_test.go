package runtime_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/runtime"
	"github.com/10xdotin/mcp-handle-operator/runtime/audit"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

// sendWithID sends a request carrying X-Request-Id id: form is a form body,
// anything else a JSON one.
func (s *stack) sendWithID(t *testing.T, method, rawURL, id, bearer string, body any) response {
	t.Helper()
	var req *http.Request
	if form, ok := body.(url.Values); ok {
		req, _ = http.NewRequest(method, rawURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		b, _ := json.Marshal(body)
		req, _ = http.NewRequest(method, rawURL, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set(audit.RequestIDHeader, id)
	resp := s.send(t, req)
	if got := resp.Header.Get(audit.RequestIDHeader); got != id {
		t.Errorf("%s %s answered request id %q, want %q", method, rawURL, got, id)
	}
	return resp
}

// auditEntry is one audited action expected on an object: id "" is a
// request id the runtime made (the consent form's), which the log line and
// the Event must share.
type auditEntry struct {
	action     audit.Action
	kind, name string
	id         string
}

// TestAuditTrail drives registrations and grants through their whole life
// and checks that each audited action is one log line and one Event with
// its request id, and that nothing the flow issued or used appears in
// either.
func TestAuditTrail(t *testing.T) {
	ctx := context.Background()
	// The log both replicas write, in a file: read once they are done.
	logFile, err := os.Create(filepath.Join(t.TempDir(), "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logFile.Close() }()
	auditor, err := audit.New(ctx, env.Config, slog.New(slog.NewJSONHandler(logFile, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, func(srv *runtime.Server) { srv.Grants.Audit, srv.Registry.Audit = auditor, auditor })
	verifier, challenge := pkce()
	secrets := []string{password, verifier}
	decode := func(resp response) map[string]any {
		t.Helper()
		var out map[string]any
		if err := json.Unmarshal([]byte(resp.body), &out); err != nil || resp.StatusCode >= 300 {
			t.Fatalf("%d %s", resp.StatusCode, resp.body)
		}
		return out
	}

	const cb = "https://chatgpt.com/connector/oauth/cb_audit"
	pub := decode(s.sendWithID(t, "POST", "https://ai.10x.in/oauth/register", "reg-public", "", map[string]any{
		"redirect_uris": []string{cb}, "client_name": "Audited", "token_endpoint_auth_method": "none"}))
	conf := decode(s.sendWithID(t, "POST", "https://ai.10x.in/oauth/register", "reg-confidential", "", map[string]any{
		"redirect_uris": []string{"https://a.example/cb_audit"}, "resource": "https://acme.mcp.10x.in/mcp"}))
	clientID := pub["client_id"].(string)
	secrets = append(secrets, pub["registration_access_token"].(string), conf["registration_access_token"].(string), conf["client_secret"].(string))

	// A grant: approved, exchanged, refreshed, then its first refresh token
	// presented again.
	exchange := func() map[string]any {
		t.Helper()
		code := s.signInAndApprove(t, authorizeURL(challenge, url.Values{"client_id": {clientID}, "redirect_uri": {cb}})).Query().Get("code")
		tok := decode(s.sendWithID(t, "POST", "https://ai.10x.in/oauth/token", "exchange", "", url.Values{"grant_type": {"authorization_code"},
			"code": {code}, "client_id": {clientID}, "redirect_uri": {cb}, "code_verifier": {verifier}}))
		secrets = append(secrets, code, tok["access_token"].(string), tok["refresh_token"].(string))
		return tok
	}
	first := exchange()["refresh_token"].(string)
	rotated := decode(s.sendWithID(t, "POST", "https://ai.10x.in/oauth/token", "refresh-1", "", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {first}, "client_id": {clientID}}))
	secrets = append(secrets, rotated["access_token"].(string), rotated["refresh_token"].(string))
	if resp := s.sendWithID(t, "POST", "https://ai.10x.in/oauth/token", "reuse-1", "", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {first}, "client_id": {clientID}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("reused refresh token: %d %s", resp.StatusCode, resp.body)
	}
	grant1, _ := tokens.ParseOpaque(tokens.RefreshPrefix, first)

	// A second grant, revoked by its client (RFC 7009).
	second := exchange()["refresh_token"].(string)
	if resp := s.sendWithID(t, "POST", "https://ai.10x.in/oauth/revoke", "revoke-2", "", url.Values{"token": {second}, "client_id": {clientID}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: %d %s", resp.StatusCode, resp.body)
	}
	grant2, _ := tokens.ParseOpaque(tokens.RefreshPrefix, second)

	// RFC 7592: one client repaired, the other removed.
	decode(s.sendWithID(t, "PUT", pub["registration_client_uri"].(string), "repair", pub["registration_access_token"].(string),
		map[string]any{"redirect_uris": []string{cb, cb + "_new"}, "client_name": "Audited", "token_endpoint_auth_method": "none"}))
	if resp := s.sendWithID(t, "DELETE", conf["registration_client_uri"].(string), "remove", conf["registration_access_token"].(string), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.body)
	}

	want := []auditEntry{
		{audit.ClientRegistered, "OAuthClient", clientID, "reg-public"},
		{audit.ClientRegistered, "OAuthClient", conf["client_id"].(string), "reg-confidential"},
		{audit.GrantCreated, "Connection", grant1, ""},
		{audit.GrantRefreshed, "Connection", grant1, "refresh-1"},
		{audit.GrantReuseDetected, "Connection", grant1, "reuse-1"},
		{audit.GrantRevoked, "Connection", grant1, "reuse-1"},
		{audit.GrantCreated, "Connection", grant2, ""},
		{audit.GrantRevoked, "Connection", grant2, "revoke-2"},
		{audit.ClientRepaired, "OAuthClient", clientID, "repair"},
		{audit.ClientRemoved, "OAuthClient", conf["client_id"].(string), "remove"},
	}
	names := map[string]bool{}
	for _, w := range want {
		names[w.name] = true
	}

	logs, err := os.ReadFile(logFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string][]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("a log line is no JSON: %s", sc.Text())
		}
		if line["msg"] == "audit" {
			key := fmt.Sprint(line["action"], "/", line["name"])
			lines[key] = append(lines[key], line)
		}
	}
	var events []eventsv1.Event
	waitfor.Eventually(t, 10*time.Second, "an Event for each audited action", func() error {
		var l eventsv1.EventList
		if err := env.Client.List(ctx, &l, ctrlclient.InNamespace("default")); err != nil {
			return err
		}
		events = events[:0]
		for _, e := range l.Items {
			if e.ReportingController == audit.ReportingController && names[e.Regarding.Name] {
				events = append(events, e)
			}
		}
		if len(events) < len(want) {
			return fmt.Errorf("%d Events, want %d", len(events), len(want))
		}
		return nil
	})
	if len(events) != len(want) {
		t.Errorf("%d Events, want %d: %+v", len(events), len(want), events)
	}
	if n := len(lines); n != len(want) {
		t.Errorf("%d audited actions in the log, want %d: %v", n, len(want), lines)
	}
	for _, w := range want {
		got := lines[fmt.Sprint(w.action, "/", w.name)]
		if len(got) != 1 {
			t.Errorf("%s of %s: %d log lines, want 1", w.action, w.name, len(got))
			continue
		}
		id, _ := got[0]["request_id"].(string)
		if id == "" || w.id != "" && id != w.id || got[0]["kind"] != w.kind {
			t.Errorf("%s of %s logged as %v, want kind %s and request id %q", w.action, w.name, got[0], w.kind, w.id)
		}
		if w.kind == "Connection" && got[0]["subject"] != "static#alice@example.com" {
			t.Errorf("%s of %s does not log the user: %v", w.action, w.name, got[0])
		}
		var matched int
		for _, e := range events {
			if e.Reason == string(w.action) && e.Regarding.Name == w.name {
				matched++
				if e.Regarding.Kind != w.kind || !strings.Contains(e.Note, "request "+id) {
					t.Errorf("%s of %s: Event %s regarding %s, note %q, want request %s", w.action, w.name, e.Name, e.Regarding.Kind, e.Note, id)
				}
			}
		}
		if matched != 1 {
			t.Errorf("%s of %s: %d Events, want 1", w.action, w.name, matched)
		}
	}

	// Nothing issued or used appears anywhere, nor the user in an Event.
	all := string(logs)
	for _, e := range events {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), "alice@example.com") {
			t.Errorf("Event %s names the user: %s", e.Name, b)
		}
		all += string(b)
	}
	for _, secret := range secrets {
		if secret == "" || strings.Contains(all, secret) {
			t.Errorf("the audit trail contains a secret %.12q... (or the flow issued an empty one)", secret)
		}
	}
}
