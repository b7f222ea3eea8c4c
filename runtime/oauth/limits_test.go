package oauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/runtime/ratelimit"
)

// TestPerAddressLimits: registration and the token endpoint answer 429
// slow_down with Retry-After once an address's bucket is empty, and serve
// it again once a token has refilled.
func TestPerAddressLimits(t *testing.T) {
	endpoints := map[string]func(*ratelimit.PerAddress) http.HandlerFunc{
		"registration": func(l *ratelimit.PerAddress) http.HandlerFunc { return (&RegisterEndpoint{Limit: l}).Register },
		"token":        func(l *ratelimit.PerAddress) http.HandlerFunc { return (&TokenEndpoint{Limit: l}).ServeHTTP },
	}
	for name, endpoint := range endpoints {
		t.Run(name, func(t *testing.T) {
			now := time.Unix(1_800_000_000, 0)
			h := endpoint(&ratelimit.PerAddress{Buckets: ratelimit.Keyed{Rate: ratelimit.Rate{PerMinute: 6, Burst: 1}, Now: func() time.Time { return now }}})
			send := func(from string) *httptest.ResponseRecorder {
				// A body either endpoint refuses at once, after the limit.
				r := httptest.NewRequest("POST", "/", strings.NewReader("%"))
				r.Header.Set("Content-Type", "text/plain")
				r.RemoteAddr = from
				w := httptest.NewRecorder()
				h(w, r)
				return w
			}
			if w := send("198.51.100.1:1"); w.Code != http.StatusBadRequest {
				t.Fatalf("first request: %d %s; want the endpoint's 400", w.Code, w.Body)
			}
			w := send("198.51.100.1:2")
			var e struct{ Error string }
			if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "10" || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error != oautherr.SlowDown {
				t.Fatalf("second request: %d Retry-After %q %s; want 429 slow_down after 10 s", w.Code, w.Header().Get("Retry-After"), w.Body)
			}
			if w := send("198.51.100.2:1"); w.Code != http.StatusBadRequest {
				t.Fatalf("another address: %d; want its own bucket", w.Code)
			}
			now = now.Add(10 * time.Second)
			if w := send("198.51.100.1:3"); w.Code != http.StatusBadRequest {
				t.Fatalf("after Retry-After: %d %s", w.Code, w.Body)
			}
		})
	}
}
