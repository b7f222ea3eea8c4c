package web

import (
	"net/http"
	"net/url"

	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
)

// returnPath checks where a sign-in started from one of the runtime's own
// pages (rather than from an authorization request) may return: only to
// those pages, by path, so the login page is no open redirect.
func returnPath(next string) (string, bool) {
	if next == IntegrationsPath {
		return next, true
	}
	return "", false
}

// pageLoginForm is the login page of a sign-in that returns to one of the
// runtime's own pages.
func (f *Flow) pageLoginForm(w http.ResponseWriter, status int, next, email, problem string) {
	next, ok := returnPath(next)
	if !ok {
		errorPage(w, http.StatusBadRequest, oautherr.InvalidRequest, "there is no page to return to after signing in")
		return
	}
	data := map[string]any{"Title": "Sign in", "Next": next, "Email": email, "Error": problem}
	f.signInMethods(w, data, url.Values{"next": {next}})
	render(w, status, "login.html", data)
}
