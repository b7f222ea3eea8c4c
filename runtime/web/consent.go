package web

import (
	"context"
	"net/url"
	"slices"
	"strings"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/oauth"
)

// Consent narrows what a connector asks for to what the user may grant
// (RFC 6749 §3.3: the server may issue fewer scopes than requested, and the
// token response says which): a request beyond the user's or the handle's
// scopes is not refused, it is granted what fits. A request without scope
// asks for the handle's connector scopes, and so does a 401 challenge, so a
// client that follows the MCP spec's scope selection gets a token that can
// call the handle's tools from its first consent.

// approval is what a user may approve of a request on one handle.
type approval struct {
	// requested are the scopes asked for: the request's, or the handle's
	// connector scopes when it named none.
	requested []mcpv1alpha1.Scope
	// scopes are the requested scopes the user may approve, in catalogue
	// order; they always include mcp.connect when refusal is "".
	scopes []mcpv1alpha1.Scope
	// refusal says why the user may approve nothing, or is "".
	refusal string
}

// approvable returns the scopes of the request the user may approve on the
// handle: those asked for (the handle's connector scopes when none were),
// within what the client may ask, the member may approve and the handle's
// toolsets need.
func (f *Flow) approvable(ctx context.Context, s *Session, handle string, req *oauth.AuthorizeRequest, client *mcpv1alpha1.OAuthClient) (approval, error) {
	h, err := f.Handles.Handle(ctx, handle)
	if err != nil {
		return approval{}, err
	}
	switch {
	case h == nil:
		return approval{refusal: "The handle " + handle + " does not exist."}, nil
	case h.Spec.Suspended:
		return approval{refusal: "The handle " + handle + " is suspended."}, nil
	}
	allowed, member := memberScopes(h, s)
	if !member {
		return approval{refusal: s.Email + " is not a member of the handle " + handle + ", so cannot approve connectors for it."}, nil
	}
	connector, err := f.Handles.ConnectorScopes(ctx, h)
	if err != nil {
		return approval{}, err
	}
	requested := req.Scopes
	if len(requested) == 0 {
		requested = connector
	}
	var out []mcpv1alpha1.Scope
	for _, sc := range mcpv1alpha1.AllScopes() {
		if slices.Contains(requested, sc) && slices.Contains(allowed, sc) && slices.Contains(connector, sc) &&
			(len(client.Spec.AllowedScopes) == 0 || slices.Contains(client.Spec.AllowedScopes, sc)) {
			out = append(out, sc)
		}
	}
	if !slices.Contains(out, mcpv1alpha1.ScopeMCPConnect) {
		return approval{requested: requested, refusal: "You may not approve " + string(mcpv1alpha1.ScopeMCPConnect) + " on the handle " + handle + ", so no connector can use it as " + s.Email + "."}, nil
	}
	return approval{requested: requested, scopes: out}, nil
}

// memberHandles returns, over the handles on which the user may approve the
// request, their names and what they would ask for and grant (consent
// narrows it to the chosen handle's).
func (f *Flow) memberHandles(ctx context.Context, s *Session, req *oauth.AuthorizeRequest, client *mcpv1alpha1.OAuthClient) ([]string, approval, error) {
	all, err := f.Handles.List(ctx)
	if err != nil {
		return nil, approval{}, err
	}
	var handles []string
	var union approval
	for i := range all {
		a, err := f.approvable(ctx, s, all[i].Name, req, client)
		if err != nil {
			return nil, approval{}, err
		}
		if a.refusal != "" {
			continue
		}
		handles = append(handles, all[i].Name)
		union.requested = append(union.requested, a.requested...)
		union.scopes = append(union.scopes, a.scopes...)
	}
	slices.Sort(handles)
	union.requested, union.scopes = inCatalogueOrder(union.requested), inCatalogueOrder(union.scopes)
	return handles, union, nil
}

// chosen returns the approvable scopes the consent form kept checked;
// mcp.connect is always kept (without it the grant is of no use). A form
// with no scope field at all approves them all: that is how a script
// approves what it asked for.
func chosen(approvable []mcpv1alpha1.Scope, form url.Values) []mcpv1alpha1.Scope {
	if !form.Has("scope") {
		return approvable
	}
	var out []mcpv1alpha1.Scope
	for _, sc := range approvable {
		if sc == mcpv1alpha1.ScopeMCPConnect || slices.Contains(form["scope"], string(sc)) {
			out = append(out, sc)
		}
	}
	return out
}

// leftOut returns the requested scopes that will not be granted.
func leftOut(requested, approvable []mcpv1alpha1.Scope) []mcpv1alpha1.Scope {
	var out []mcpv1alpha1.Scope
	for _, sc := range requested {
		if !slices.Contains(approvable, sc) {
			out = append(out, sc)
		}
	}
	return out
}

func inCatalogueOrder(scopes []mcpv1alpha1.Scope) []mcpv1alpha1.Scope {
	var out []mcpv1alpha1.Scope
	for _, sc := range mcpv1alpha1.AllScopes() {
		if slices.Contains(scopes, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// memberScopes returns the scopes a user may approve on a handle: the union
// over the member entries that match them, each limited to its scopes (or the
// handle's offer), and never beyond what the handle offers.
func memberScopes(h *mcpv1alpha1.Handle, s *Session) ([]mcpv1alpha1.Scope, bool) {
	offered := h.OfferedScopes()
	var allowed []mcpv1alpha1.Scope
	member := false
	for _, m := range h.Spec.Members {
		if !matches(m, s) {
			continue
		}
		member = true
		limit := m.Scopes
		if len(limit) == 0 {
			limit = offered
		}
		for _, sc := range limit {
			if slices.Contains(offered, sc) && !slices.Contains(allowed, sc) {
				allowed = append(allowed, sc)
			}
		}
	}
	return allowed, member
}

// matches reports whether a member entry names the user or one of their
// groups.
func matches(m mcpv1alpha1.HandleMember, s *Session) bool {
	if m.User != "" {
		return strings.EqualFold(m.User, s.Email)
	}
	return m.Group != "" && slices.Contains(s.Groups, m.Group)
}
