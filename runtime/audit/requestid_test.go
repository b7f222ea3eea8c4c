package audit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestIDs(t *testing.T) {
	var seen string
	h := RequestIDs(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = RequestID(r.Context()) }))
	for name, tc := range map[string]struct {
		header string
		keep   bool
	}{
		"a proxy's id":     {"a1b2-c3d4.e5:f6_7", true},
		"none":             {"", false},
		"a line break":     {"x\nmsg=forged", false},
		"a quote":          {`x"y`, false},
		"longer than 128":  {strings.Repeat("a", 129), false},
		"exactly 128 long": {strings.Repeat("a", 128), true},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set(RequestIDHeader, tc.header)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if seen == "" || w.Header().Get(RequestIDHeader) != seen || (seen == tc.header) != tc.keep {
				t.Errorf("header %q: context %q, answered %q, want kept %v", tc.header, seen, w.Header().Get(RequestIDHeader), tc.keep)
			}
		})
	}
}
