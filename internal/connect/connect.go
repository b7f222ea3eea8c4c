// Package connect walks what an MCP client does to connect to a hosted MCP
// endpoint: the unauthenticated request and its 401 challenge, the RFC 9728
// protected-resource metadata, the RFC 8414 authorization-server metadata,
// RFC 7591 dynamic registration and RFC 7592 client reads and updates.
//
// Each step is a method of Client that returns a structured result and, on
// failure, a typed error (*RequestError, *StatusError, *ChallengeError,
// *MetadataError, *IssuerMismatchError), so `mcpctl
// setup-chatgpt-mcp-oauth` and `mcpctl doctor` can print their own text.
// Results are returned alongside errors whenever a response was received.
package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// DefaultTimeout bounds each request when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxBody bounds every response body read.
const maxBody = 1 << 20

// Options configure a Client.
type Options struct {
	// Timeout bounds each request, from dial to the end of the body.
	Timeout time.Duration
	// CAFile is a PEM file of extra certificates to trust, on top of the
	// system's (the local stack's .local/tls.crt).
	CAFile string
	// RootCAs replaces the trusted roots altogether when set (tests).
	RootCAs *x509.CertPool
	// UserAgent is sent on every request.
	UserAgent string
	// Transport, when set, carries every request instead of the loopback
	// and TLS transport New builds (the load tests: the runtime's plain
	// HTTP behind a balancer). CheckTLS needs the built one.
	Transport http.RoundTripper
}

// Client performs the steps. The zero value is not usable; use New.
type Client struct {
	http      *http.Client
	userAgent string
	// dial and tlsConfig are the transport's, for CheckTLS.
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	tlsConfig *tls.Config
	timeout   time.Duration
}

// New returns a Client whose transport resolves "localhost" and every
// "*.localhost" name to the loopback address (RFC 6761 section 6.3; Go's
// resolver asks DNS for them), never follows redirects (a redirect is
// reported as the status it is), and bounds every request by the timeout.
func New(o Options) (*Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	roots := o.RootCAs
	if roots == nil {
		var err error
		if roots, err = x509.SystemCertPool(); err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read the CA file: %w", err)
		}
		roots = roots.Clone()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", o.CAFile)
		}
	}
	dialer := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
	dial := loopbackDialer(dialer)
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dial,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
	}
	ua := o.UserAgent
	if ua == "" {
		ua = "mcpctl"
	}
	var rt http.RoundTripper = transport
	if o.Transport != nil {
		rt = o.Transport
	}
	return &Client{
		http: &http.Client{
			Transport:     rt,
			Timeout:       o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		userAgent: ua,
		dial:      dial,
		tlsConfig: tlsConfig,
		timeout:   o.Timeout,
	}, nil
}

// IsLoopbackName reports whether host is "localhost" or a name under it,
// which RFC 6761 reserves for the loopback interface.
func IsLoopbackName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// loopbackDialer dials *.localhost names on 127.0.0.1, then ::1, and
// everything else as usual. TLS still verifies the original name.
func loopbackDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || !IsLoopbackName(host) {
			return d.DialContext(ctx, network, addr)
		}
		conn, err4 := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", port))
		if err4 == nil {
			return conn, nil
		}
		conn, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", port))
		if err6 == nil {
			return conn, nil
		}
		return nil, err4
	}
}

// Step names a step of the connection, for errors and reports.
type Step string

// The steps, in the order a client takes them.
const (
	StepProbe               Step = "mcp-request"
	StepResourceMetadata    Step = "protected-resource-metadata"
	StepIssuerCheck         Step = "authorization-server-check"
	StepAuthorizationServer Step = "authorization-server-metadata"
	StepRegister            Step = "dynamic-registration"
	StepReadClient          Step = "client-read"
	StepUpdateClient        Step = "client-update"
)

// FailureKind classifies a request that got no HTTP response.
type FailureKind string

// Failure kinds of RequestError.
const (
	FailureDNS     FailureKind = "dns"
	FailureConnect FailureKind = "connect"
	FailureTLS     FailureKind = "tls"
	FailureTimeout FailureKind = "timeout"
	FailureOther   FailureKind = "other"
)

// RequestError is a request that got no HTTP response: DNS, connection,
// TLS or timeout.
type RequestError struct {
	Step Step
	URL  string
	Kind FailureKind
	Err  error
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("%s: %s failed (%s): %v", e.Step, e.URL, e.Kind, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }

// StatusError is a response with an unexpected status. OAuthError and
// Description are the body's RFC 6749 error fields when it has them.
type StatusError struct {
	Step        Step
	URL         string
	Status      int
	OAuthError  string
	Description string
	// Location is set for redirects, which are not followed.
	Location string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s: %s answered %d %s", e.Step, e.URL, e.Status, http.StatusText(e.Status))
	if e.OAuthError != "" {
		msg += ": " + e.OAuthError
		if e.Description != "" {
			msg += " (" + e.Description + ")"
		}
	}
	if e.Location != "" {
		msg += "; redirect to " + e.Location + " not followed"
	}
	return msg
}

// classify turns a transport error into a RequestError.
func classify(step Step, rawURL string, err error) *RequestError {
	kind := FailureOther
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var alertErr tls.AlertError
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		kind = FailureDNS
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr),
		errors.As(err, &invalidCert), errors.As(err, &recordErr), errors.As(err, &alertErr):
		kind = FailureTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		kind = FailureTimeout
	case errors.As(err, &opErr) && opErr.Op == "dial":
		kind = FailureConnect
	}
	return &RequestError{Step: step, URL: rawURL, Kind: kind, Err: err}
}

// response is a received response with its body read.
type response struct {
	*http.Response
	body []byte
}

// do sends a request and reads the body (at most 1 MiB).
func (c *Client) do(step Step, req *http.Request) (*response, error) {
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, classify(step, req.URL.String(), err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, classify(step, req.URL.String(), err)
	}
	if len(body) > maxBody {
		return nil, &RequestError{Step: step, URL: req.URL.String(), Kind: FailureOther, Err: errors.New("response body larger than 1 MiB")}
	}
	return &response{Response: resp, body: body}, nil
}

// statusError builds the StatusError of a response.
func statusError(step Step, rawURL string, r *response) *StatusError {
	e := &StatusError{Step: step, URL: rawURL, Status: r.StatusCode}
	e.OAuthError, e.Description = oauthError(r.body)
	if r.StatusCode >= 300 && r.StatusCode < 400 {
		e.Location = r.Header.Get("Location")
	}
	return e
}
