package endpoint

import (
	"errors"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// sessionPurpose separates sealed session ids from other sealed values.
const sessionPurpose = "mcp-session"

// sessionTTL bounds an MCP session (protocol versions 2025-06-18 and
// 2025-11-25); a client whose session expired initializes a new one.
const sessionTTL = 24 * time.Hour

// sessionIdleTTL is how long mcp-go keeps a replica's per-session state
// after the session's last request; a later request rebuilds it.
const sessionIdleTTL = 30 * time.Minute

// session is what a session id carries: self-verifying, so any replica can
// check it without shared state.
type session struct {
	Handle  string `json:"h"`
	Subject string `json:"s"`
	Nonce   string `json:"n"`
}

var errSessionUnknown = errors.New("unknown or expired MCP session")

// openSession verifies a session id.
func openSession(ks *tokens.KeySet, id string, now time.Time) (session, error) {
	var s session
	if ks.Open(sessionPurpose, id, &s, now) != nil {
		return session{}, errSessionUnknown
	}
	return s, nil
}

// sessions mints session ids bound to the request's handle and user.
type sessions struct {
	keys func() *tokens.KeySet
	now  func() time.Time
}

// ResolveSessionIdManager returns the session manager of one request.
func (s sessions) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	return &requestSessions{sessions: s, principal: principal.FromContext(r.Context())}
}

// requestSessions implements mcp-go's SessionIdManager for one request.
// The endpoint has already checked the session's handle and user before
// mcp-go sees it; Validate only rejects ids that do not verify.
type requestSessions struct {
	sessions
	principal *principal.Principal
}

// Generate seals the principal's handle and user into a new id.
func (r *requestSessions) Generate() string {
	if r.principal == nil {
		return ""
	}
	id, err := r.keys().Seal(sessionPurpose, session{Handle: r.principal.Handle.Name, Subject: r.principal.Token.Subject, Nonce: tokens.RandomID()},
		r.now().Add(sessionTTL))
	if err != nil {
		return ""
	}
	return id
}

// Validate checks the seal. A request without a session is served too:
// sessions hold no state the request could need.
func (r *requestSessions) Validate(id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	_, err := openSession(r.keys(), id, r.now())
	return false, err
}

// Terminate refuses a client's DELETE: mcp-go answers 405 Method Not
// Allowed, which the protocol permits for servers that do not let clients
// terminate sessions. A sealed id stays verifiable on every replica until it
// expires, so accepting the DELETE would promise what the protocol then
// requires (404 for the terminated id) and no replica could keep.
func (r *requestSessions) Terminate(string) (bool, error) { return true, nil }
