package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/runtime/ratelimit"
	"github.com/10xdotin/mcp-handle-operator/runtime/registry"
)

// RegisterEndpoint serves RFC 7591 dynamic registration at POST
// /oauth/register and RFC 7592 management at /oauth/register/{client_id}
// (GET, PUT, DELETE with the registration access token).
type RegisterEndpoint struct {
	Registry *registry.Registry
	// Limit bounds registrations per client address; nil admits all.
	Limit *ratelimit.PerAddress
}

const maxRegistrationBody = 64 << 10

// Register serves POST /oauth/register.
func (e *RegisterEndpoint) Register(w http.ResponseWriter, r *http.Request) {
	if !Limited(w, r, e.Limit, "registrations") {
		return
	}
	md, ok := readMetadata(w, r)
	if !ok {
		return
	}
	reg, err := e.Registry.Register(r.Context(), md)
	var full *registry.UnusedCapError
	if errors.As(err, &full) {
		// RFC 7591 section 3.2.2 has no code for a full server: this is
		// RFC 6749's temporary refusal, for as long as the oldest unused
		// client lives.
		w.Header().Set("Retry-After", strconv.Itoa(int(full.RetryAfter.Seconds()+0.999)))
		Errorf(http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, err.Error()).Write(w)
		return
	}
	if err != nil {
		registrationError(err).Write(w)
		return
	}
	writeJSON(w, http.StatusCreated, reg, "no-store")
}

// Manage serves GET, PUT and DELETE /oauth/register/{client_id}.
func (e *RegisterEndpoint) Manage(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	c, err := e.Registry.Authenticate(r.Context(), r.PathValue("client_id"), token)
	if err != nil {
		Errorf(http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the client could not be read; retry shortly").Write(w)
		return
	}
	if !ok || c == nil {
		// RFC 7592: an unknown client and a wrong token look the same.
		w.Header().Set("WWW-Authenticate", `Bearer error="`+oautherr.InvalidToken+`"`)
		Errorf(http.StatusUnauthorized, oautherr.InvalidToken, "the registration access token is not valid for this client").Write(w)
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, e.Registry.Describe(c), "no-store")
	case http.MethodPut:
		md, ok := readMetadata(w, r)
		if !ok {
			return
		}
		reg, err := e.Registry.Update(r.Context(), c, md)
		if err != nil {
			registrationError(err).Write(w)
			return
		}
		writeJSON(w, http.StatusOK, reg, "no-store")
	case http.MethodDelete:
		if err := e.Registry.Delete(r.Context(), c); err != nil {
			Errorf(http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the client could not be deleted; retry shortly").Write(w)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func readMetadata(w http.ResponseWriter, r *http.Request) (registry.Metadata, bool) {
	var md registry.Metadata
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		Errorf(http.StatusBadRequest, oautherr.InvalidClientMetadata, "the body must be application/json").Write(w)
		return md, false
	}
	body := http.MaxBytesReader(w, r.Body, maxRegistrationBody)
	// Unknown metadata is ignored (RFC 7591 section 2).
	if err := json.NewDecoder(body).Decode(&md); err != nil {
		Errorf(http.StatusBadRequest, oautherr.InvalidClientMetadata, "the body is not a JSON client metadata object of at most 64 KiB").Write(w)
		return md, false
	}
	return md, true
}

func registrationError(err error) *Error {
	switch {
	case errors.Is(err, registry.ErrInvalidRedirectURI):
		return Errorf(http.StatusBadRequest, oautherr.InvalidRedirectURI, err.Error())
	case errors.Is(err, registry.ErrInvalidMetadata):
		return Errorf(http.StatusBadRequest, oautherr.InvalidClientMetadata, err.Error())
	case errors.Is(err, registry.ErrHandleFull):
		// The metadata is valid; the server refuses more clients there.
		return Errorf(http.StatusForbidden, oautherr.AccessDenied, err.Error())
	default:
		return Errorf(http.StatusServiceUnavailable, oautherr.TemporarilyUnavailable, "the client could not be registered; retry shortly")
	}
}

// Limited applies a per-address limit to an OAuth endpoint: past it, 429
// slow_down with Retry-After (RFC 6749 has no code for it; RFC 8628's
// means the same). It reports whether the request may go on.
func Limited(w http.ResponseWriter, r *http.Request, limit *ratelimit.PerAddress, what string) bool {
	ok, wait := limit.Allow(r)
	if !ok {
		w.Header().Set("Retry-After", ratelimit.Seconds(wait))
		Errorf(http.StatusTooManyRequests, oautherr.SlowDown, "too many "+what+" from this address; retry in "+ratelimit.Seconds(wait)+" s").Write(w)
	}
	return ok
}
