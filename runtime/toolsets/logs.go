package toolsets

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// An upstream's log messages (notifications/message) sent on the stream of
// a forwarded request are that request's and go to its client, at the
// level the client asked for (logging/setLevel, or on 2026-07-28 the
// request's own level). mcp-go's client hands every notification to one
// handler without the request it came with, so the runtime reads them where
// the request is known: in the answer's event stream, as it passes to
// mcp-go unchanged (logTap). Log messages an upstream sends outside a
// request belong to the runtime's shared session and go nowhere.

type logRelayKey struct{}

// logRelay passes a forwarded request's log messages to its client.
type logRelay struct {
	ctx  context.Context
	srv  *server.MCPServer
	sent atomic.Bool
}

// withLogRelay returns ctx whose upstream requests relay their log messages
// to the client of ctx's request, and the relay (nil when there is no
// client to relay to).
func withLogRelay(ctx context.Context) (context.Context, *logRelay) {
	s, err := downstream(ctx)
	if err != nil {
		return ctx, nil
	}
	r := &logRelay{ctx: ctx, srv: s}
	return context.WithValue(ctx, logRelayKey{}, r), r
}

// pass relays one event of an upstream's answer if it is a log message.
func (r *logRelay) pass(data []byte) {
	if !bytes.Contains(data, []byte(`"notifications/message"`)) {
		return
	}
	var n mcp.LoggingMessageNotification
	if json.Unmarshal(data, &n) != nil || n.Method != string(mcp.MethodNotificationMessage) {
		return
	}
	if r.srv.SendLogMessageToClient(r.ctx, n) == nil {
		r.sent.Store(true)
	}
}

// done waits, if it relayed anything, for it to be written before the
// answer (flushed).
func (r *logRelay) done() {
	if r != nil && r.sent.Load() {
		flushed(r.ctx)
	}
}

// tapLogs wraps the event stream of an answer to a forwarded request whose
// context has a log relay.
func tapLogs(r *http.Request, resp *http.Response) {
	relay, _ := r.Context().Value(logRelayKey{}).(*logRelay)
	if relay == nil || resp.Body == nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return
	}
	resp.Body = &logTap{ReadCloser: resp.Body, relay: relay}
}

// logTap passes an event stream through unchanged, handing the data of
// each event to its relay as the event ends (a blank line). Events longer
// than the answer limit are not looked at.
type logTap struct {
	io.ReadCloser
	relay *logRelay
	line  []byte
	data  []byte
}

func (t *logTap) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	for _, b := range p[:n] {
		if b != '\n' {
			if len(t.line) < MaxAnswerBytes {
				t.line = append(t.line, b)
			}
			continue
		}
		t.endLine(bytes.TrimSuffix(t.line, []byte("\r")))
		t.line = t.line[:0]
	}
	return n, err
}

func (t *logTap) endLine(line []byte) {
	if len(line) == 0 {
		if len(t.data) > 0 {
			t.relay.pass(t.data)
		}
		t.data = t.data[:0]
		return
	}
	if value, ok := bytes.CutPrefix(line, []byte("data:")); ok {
		if len(t.data) > 0 {
			t.data = append(t.data, '\n')
		}
		t.data = append(t.data, bytes.TrimPrefix(value, []byte(" "))...)
	}
}
