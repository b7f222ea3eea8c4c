// Package audit records each change to a grant or a registered client as a
// Kubernetes Event on the object and as one JSON log line, both carrying the
// id of the request that caused it. Entries are built from objects only, so
// no token, code, secret or password can reach either.
package audit

import (
	"context"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// Action is what happened; it is the Event's reason and action and the log
// line's action.
type Action string

// The audited actions.
const (
	GrantCreated       Action = "GrantCreated"
	GrantRefreshed     Action = "GrantRefreshed"
	GrantReuseDetected Action = "GrantReuseDetected"
	GrantRevoked       Action = "GrantRevoked"
	ClientRegistered   Action = "ClientRegistered"
	ClientRepaired     Action = "ClientRepaired"
	ClientRemoved      Action = "ClientRemoved"
)

// ReportingController names the runtime in the Events it records.
const ReportingController = "mcp.10x.in/runtime"

// Auditor records entries. A nil Auditor records nothing (tests of other
// behaviour).
type Auditor struct {
	Log *slog.Logger
	// Events records the Events; nil records log lines only.
	Events events.EventRecorder
}

// New returns an Auditor that records Events through the apiserver of cfg
// until ctx ends. Events of cluster-scoped objects (all the audited ones)
// land in the default namespace, as Kubernetes places them.
func New(ctx context.Context, cfg *rest.Config, log *slog.Logger) (*Auditor, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
		return nil, err
	}
	// The references are built here, so the recorder needs no scheme.
	return &Auditor{Log: log, Events: b.NewRecorder(nil, ReportingController)}, nil
}

// Grant records an action on a grant. The subject (the user) goes to the
// log only: the Connection already names its user, and Events are readable
// more widely than Connections.
func (a *Auditor) Grant(ctx context.Context, action Action, conn *mcpv1alpha1.Connection, note string) {
	a.record(ctx, action, "Connection", conn, conn.Spec.Handle, conn.Spec.ClientID, conn.Spec.Subject, note)
}

// Client records an action on a registered client.
func (a *Auditor) Client(ctx context.Context, action Action, c *mcpv1alpha1.OAuthClient, note string) {
	a.record(ctx, action, "OAuthClient", c, c.Spec.Handle, c.Name, "", note)
}

func (a *Auditor) record(ctx context.Context, action Action, kind string, obj client.Object, handle, clientID, subject, note string) {
	if a == nil {
		return
	}
	id := RequestID(ctx)
	attrs := []any{"action", action, "kind", kind, "name", obj.GetName(), "handle", handle, "client_id", clientID, "request_id", id}
	if subject != "" {
		attrs = append(attrs, "subject", subject)
	}
	if note != "" {
		attrs = append(attrs, "note", note)
	}
	a.Log.InfoContext(ctx, "audit", attrs...)
	if a.Events == nil {
		return
	}
	ref := &corev1.ObjectReference{APIVersion: mcpv1alpha1.GroupVersion.String(), Kind: kind, Name: obj.GetName(), UID: obj.GetUID()}
	eventType := corev1.EventTypeNormal
	if action == GrantReuseDetected {
		eventType = corev1.EventTypeWarning
	}
	if note != "" {
		note += "; "
	}
	a.Events.Eventf(ref, nil, eventType, string(action), string(action), "%shandle %q, client %q, request %s", note, handle, clientID, id)
}
