// Package oauth is the runtime's OAuth 2.1 authorization server: its
// metadata documents and endpoints, one file per endpoint.
package oauth

import (
	"encoding/json"
	"net/http"

	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
)

// Error is an OAuth error as RFC 6749 section 5.2 renders it.
type Error struct {
	// Code is the error code, e.g. invalid_request or invalid_target.
	Code string `json:"error"`
	// Description says what is wrong and what to do, for people.
	Description string `json:"error_description,omitempty"`
	// Status is the HTTP status to answer with.
	Status int `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// Errorf returns an Error with a status.
func Errorf(status int, code, description string) *Error {
	return &Error{Code: code, Description: description, Status: status}
}

// Write renders the error as JSON, uncacheable.
func (e *Error) Write(w http.ResponseWriter) {
	writeJSON(w, e.Status, e, "no-store")
}

// writeJSON writes a JSON document with a Cache-Control policy.
func writeJSON(w http.ResponseWriter, status int, v any, cacheControl string) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"`+oautherr.ServerError+`"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cacheControl)
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
