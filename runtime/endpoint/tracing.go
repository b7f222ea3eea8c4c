package endpoint

import (
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/10xdotin/mcp-handle-operator/runtime/tracing"
)

// requestSpan is the span of one MCP request (runtime/tracing). It starts
// once the request's method and parent are known, which for a POST is
// after the body is read (its _meta may name the parent), but is timed from
// the request's arrival; it records the status written through it.
type requestSpan struct {
	http.ResponseWriter
	r      *http.Request
	start  time.Time
	handle string
	status int
	span   trace.Span
}

func newRequestSpan(w http.ResponseWriter, r *http.Request) *requestSpan {
	return &requestSpan{ResponseWriter: w, r: r, start: time.Now()}
}

// begin starts the span, a child of the request's traceparent (its
// _meta.traceparent, else its header), and returns r with it in its context;
// once started, it returns r unchanged.
func (s *requestSpan) begin(r *http.Request, msgs []message) *http.Request {
	if s.span != nil {
		return r
	}
	ctx := tracing.Extract(r.Context(), r.Header)
	name := "MCP " + r.Method
	attrs := []attribute.KeyValue{attribute.String("http.request.method", r.Method)}
	if len(msgs) == 1 {
		m := msgs[0]
		ctx = tracing.ExtractMeta(ctx, m.Params.Meta)
		if m.Method != "" {
			name = m.Method
			attrs = append(attrs, attribute.String("mcp.method.name", m.Method))
		}
		if m.Method == "tools/call" {
			attrs = append(attrs, attribute.String("gen_ai.tool.name", m.Params.Name))
		}
	}
	ctx, s.span = tracing.Start(ctx, name, trace.SpanKindServer, attrs...)
	return r.WithContext(ctx)
}

// end ends the span (started now if the request was refused before it
// was), with the answer's status: an error from 500 on, as for any server.
func (s *requestSpan) end() {
	s.begin(s.r, nil)
	if s.handle != "" {
		s.span.SetAttributes(attribute.String("mcp.handle", s.handle))
	}
	status := s.status
	if status == 0 {
		status = http.StatusOK
	}
	s.span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= http.StatusInternalServerError {
		s.span.SetStatus(codes.Error, http.StatusText(status))
	}
	s.span.End()
}

func (s *requestSpan) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *requestSpan) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Flush passes on flushes: mcp-go streams answers only to an http.Flusher.
func (s *requestSpan) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap serves http.ResponseController (write deadlines).
func (s *requestSpan) Unwrap() http.ResponseWriter { return s.ResponseWriter }
