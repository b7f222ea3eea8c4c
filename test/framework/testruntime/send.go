package testruntime

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/10xdotin/mcp-handle-operator/test/framework/loadgen"
)

// SendTo sends req to one in-process replica whatever host its URL names,
// with jar's cookies and without following redirects, like a browser whose
// requests a load balancer spreads; it returns the response with its body
// read.
func SendTo(t testing.TB, replica *httptest.Server, jar http.CookieJar, req *http.Request) (*http.Response, string) {
	t.Helper()
	addr := replica.Listener.Addr().String()
	hc := &http.Client{
		Jar: jar,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test server certificate
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// FormFields returns the hidden req and csrf fields of a sign-in or consent
// page, failing the test when the page has no such form.
func FormFields(t testing.TB, page string) url.Values {
	t.Helper()
	v := loadgen.FormFields(page)
	if v.Get("req") == "" || v.Get("csrf") == "" {
		t.Fatalf("a form without req and csrf:\n%s", page)
	}
	return v
}
