package toolsets

import (
	"context"
	"errors"
	"fmt"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"go.opentelemetry.io/otel/attribute"
)

// forwardError is why a request could not be forwarded to a toolset, or
// what the toolset answered instead of a result: one line for a person,
// naming the toolset.
type forwardError struct{ msg string }

func (e *forwardError) Error() string { return e.msg }

func forwardErrorf(format string, args ...any) error {
	return &forwardError{msg: fmt.Sprintf(format, args...)}
}

// forward sends one request of the request's principal to a toolset of its
// handle: with a token the runtime mints for the principal (never the
// client's), bounded by the toolset's timeout and its calls in flight,
// traced and measured as operation. The request's context is the call's:
// its end cancels the upstream request, and what the upstream sends back
// on the way (progress, log messages, sampling, elicitation, roots) is
// relayed to the client of that request (relay.go, logs.go).
func forward[T any](ctx context.Context, m *Manager, toolset, operation string, f func(context.Context, *mcpclient.Client) (T, error), attrs ...attribute.KeyValue) (T, error) {
	var zero T
	p := principalOf(ctx)
	if p == nil {
		return zero, forwardErrorf("%s: %v", operation, errNoPrincipal)
	}
	if !names(p.Handle, toolset) {
		return zero, forwardErrorf("the handle %q does not use the toolset %q", p.Handle.Name, toolset)
	}
	c := m.connOf(toolset)
	if c == nil {
		return zero, forwardErrorf("toolset %q is not available", toolset)
	}
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	default:
		return zero, forwardErrorf("toolset %q is busy (%d calls in flight); try again shortly", toolset, cap(c.sem))
	}
	token, err := m.upstreamToken(c.url, p)
	if err != nil {
		m.log().Error("upstream token not minted", "toolset", toolset, "error", err)
		return zero, forwardErrorf("toolset %q: the runtime could not mint the upstream token", toolset)
	}
	timeout := c.timeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx, logs := withLogRelay(ctx)
	defer logs.done()
	start := time.Now()
	ctx, end := traceUpstream(ctx, operation, c.url, append(attrs, attribute.String("mcp.toolset", toolset))...)
	res, err := do(ctx, c, func() (string, error) { return m.systemToken(c.url) }, func(cl *mcpclient.Client) (T, error) {
		return f(withToken(ctx, token), cl)
	})
	end(err)
	m.observe(toolset, operation, start, err)
	switch {
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return zero, forwardErrorf("toolset %q did not answer within %s", toolset, timeout)
	case err != nil:
		return zero, forwardErrorf("toolset %q: %s", toolset, describe(err, ctx))
	}
	return res, nil
}

// answered is an upstream's answer, with a missing result (and no error)
// made errNoResult.
func answered[T any](res *T, err error) (*T, error) {
	if err == nil && res == nil {
		err = errNoResult
	}
	return res, err
}

// connOf returns the connection to a toolset's upstream, nil when there is
// none (yet).
func (m *Manager) connOf(toolset string) *conn {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if st := m.sets[toolset]; st != nil {
		return st.conn
	}
	return nil
}
