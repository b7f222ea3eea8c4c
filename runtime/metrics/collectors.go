package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/registry"
)

// TokenEndpoint records the outcome of each token request: the grant type
// of its form and, for an error answer, the RFC 6749 section 5.2 error
// code of the answer's body, so every path of the endpoint is counted
// without the endpoint knowing.
func (m *Metrics) TokenEndpoint(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &errorRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		code := ""
		if rec.status >= 400 {
			var body struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(rec.body, &body)
			if code = bounded(body.Error, tokenErrors); code == "" {
				code = "other"
			}
		}
		// PostForm was parsed by the endpoint; a request refused before
		// that has no grant type.
		m.tokens.WithLabelValues(bounded(r.PostForm.Get("grant_type"), grantTypes), code).Inc()
	})
}

// errorRecorder keeps the status and the start of an error answer (token
// endpoint errors are a small JSON object).
type errorRecorder struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (e *errorRecorder) WriteHeader(status int) {
	e.status = status
	e.ResponseWriter.WriteHeader(status)
}

func (e *errorRecorder) Write(p []byte) (int, error) {
	if e.status >= 400 && len(e.body) < 1024 {
		e.body = append(e.body, p[:min(len(p), 1024-len(e.body))]...)
	}
	return e.ResponseWriter.Write(p)
}

// Counts reports, at each scrape, the grants and OAuth clients the reader
// (the informer cache) holds: a list of the cache, no apiserver request.
type Counts struct {
	reader          client.Reader
	grants, clients *prometheus.Desc
	perHandle       bool
}

// NewCounts returns the collector of grants and clients; register it with
// the registry New was given. perHandle counts grants per handle.
func NewCounts(reader client.Reader, opts Options) *Counts {
	var grantLabels []string
	if opts.PerHandle {
		grantLabels = []string{"handle"}
	}
	return &Counts{reader: reader, perHandle: opts.PerHandle,
		grants: prometheus.NewDesc(Namespace+"_grants", "Grants (Connection objects) in the informer cache.", grantLabels, nil),
		clients: prometheus.NewDesc(Namespace+"_oauth_clients", "OAuthClients in the informer cache, by registration method and whether a dynamic one still awaits its first approval.",
			[]string{"registration", "unused"}, nil),
	}
}

// Describe sends the descriptions of the counts (prometheus.Collector).
func (c *Counts) Describe(ch chan<- *prometheus.Desc) { ch <- c.grants; ch <- c.clients }

// Collect lists without deep copies (nothing is kept or changed). A list
// that fails leaves its series out of this scrape.
func (c *Counts) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var conns mcpv1alpha1.ConnectionList
	if err := c.reader.List(ctx, &conns, client.UnsafeDisableDeepCopy); err == nil {
		if !c.perHandle {
			ch <- prometheus.MustNewConstMetric(c.grants, prometheus.GaugeValue, float64(len(conns.Items)))
		} else {
			perHandle := map[string]int{}
			for i := range conns.Items {
				perHandle[conns.Items[i].Spec.Handle]++
			}
			for h, n := range perHandle {
				ch <- prometheus.MustNewConstMetric(c.grants, prometheus.GaugeValue, float64(n), h)
			}
		}
	}
	var clients mcpv1alpha1.OAuthClientList
	if err := c.reader.List(ctx, &clients, client.UnsafeDisableDeepCopy); err == nil {
		type key struct{ registration, unused string }
		counts := map[key]int{}
		for i := range clients.Items {
			cl := &clients.Items[i]
			reg := string(cl.Spec.Registration)
			if reg == "" {
				reg = string(mcpv1alpha1.RegistrationDeclared)
			}
			counts[key{reg, cl.Labels[registry.LabelUnused]}]++
		}
		for k, n := range counts {
			unused := "false"
			if k.unused == "true" {
				unused = "true"
			}
			ch <- prometheus.MustNewConstMetric(c.clients, prometheus.GaugeValue, float64(n), k.registration, unused)
		}
	}
}

// KeyExpiry reports when the current key of a key Secret stops being
// trusted by policy: the Secret's mcp.10x.in/current-key-not-after
// annotation. Without it the series is absent (keys do not expire by
// themselves).
type KeyExpiry struct {
	desc *prometheus.Desc
	keys map[string]func() (time.Time, bool)
}

// NewKeyExpiry returns the collector of the signing keys' expiry, one
// series per entry of keys ("access", "upstream").
func NewKeyExpiry(keys map[string]func() (time.Time, bool)) *KeyExpiry {
	return &KeyExpiry{keys: keys, desc: prometheus.NewDesc(Namespace+"_signing_key_not_after_timestamp_seconds",
		"When the current signing key should have been replaced (the key Secret's mcp.10x.in/current-key-not-after annotation), by key set.", []string{"keys"}, nil)}
}

// Describe sends the expiry's description (prometheus.Collector).
func (k *KeyExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- k.desc }

// Collect sends the not-after time of each key set that has one.
func (k *KeyExpiry) Collect(ch chan<- prometheus.Metric) {
	for name, notAfter := range k.keys {
		if t, ok := notAfter(); ok {
			ch <- prometheus.MustNewConstMetric(k.desc, prometheus.GaugeValue, float64(t.Unix()), name)
		}
	}
}
