// Package web serves the runtime's pages: sign-in, consent with the handle
// choice, and the authorization endpoint that leads to them. Pages are
// server-rendered with html/template (which escapes every client-supplied
// string), need no JavaScript and load nothing from elsewhere.
package web

import (
	"embed"
	"html/template"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// secureHeaders forbid framing (clickjacking), caching, and any load or form
// target other than this origin and the given redirect origins.
func secureHeaders(w http.ResponseWriter, formTargets ...string) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' "+strings.Join(formTargets, " "))
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// render writes a page.
func render(w http.ResponseWriter, status int, name string, data any, formTargets ...string) {
	secureHeaders(w, formTargets...)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, data)
}

// errorPage shows an error that must not be sent to a redirect URI.
func errorPage(w http.ResponseWriter, status int, code, message string) {
	render(w, status, "error.html", map[string]string{"Title": "This request cannot continue", "Code": code, "Message": message})
}

// Assets serves the embedded stylesheet.
func Assets() http.Handler {
	return http.StripPrefix("/ui", http.FileServerFS(assetFS))
}
