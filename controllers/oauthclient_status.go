package controllers

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// oauthClientObservation is what the reconciler found for a client.
type oauthClientObservation struct {
	// handle is the bound handle, nil when missing or for gateway clients.
	handle *mcpv1alpha1.Handle
	// secret is the namespace/name of the client secret, empty for public
	// clients.
	secret string
	// secretConflict names a Secret of that name the client does not own.
	secretConflict string
}

// requestedScopes are the allowed and default scopes of a client, with the
// default defaults (mcp.connect and skills.read).
func requestedScopes(c *mcpv1alpha1.OAuthClient) []mcpv1alpha1.Scope {
	scopes := append([]mcpv1alpha1.Scope(nil), c.Spec.AllowedScopes...)
	defaults := c.Spec.DefaultScopes
	if len(defaults) == 0 {
		defaults = mcpv1alpha1.ConnectScopes
	}
	for _, s := range defaults {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return scopes
}

// computeOAuthClientStatus returns the client's status.
func computeOAuthClientStatus(cfg *platform.Config, c *mcpv1alpha1.OAuthClient, obs oauthClientObservation) mcpv1alpha1.OAuthClientStatus {
	ready := metav1.Condition{Type: mcpv1alpha1.OAuthClientConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: c.Generation}
	switch {
	case obs.secretConflict != "":
		ready.Reason = mcpv1alpha1.OAuthClientReasonSecretConflict
		ready.Message = fmt.Sprintf("Secret %s exists and is not owned by this client; delete it so the operator can generate the client secret", obs.secretConflict)
	case c.Spec.Gateway && !cfg.SharedGateway.Enabled:
		ready.Reason = mcpv1alpha1.OAuthClientReasonGatewayDisabled
		ready.Message = fmt.Sprintf("the shared gateway is disabled in the platform configuration (sharedGateway.enabled): authorizing %s gets invalid_target", cfg.SharedGatewayURL())
	case !c.Spec.Gateway && c.Spec.Handle == "":
		ready.Status, ready.Reason = metav1.ConditionTrue, mcpv1alpha1.OAuthClientReasonRegistered
		ready.Message = fmt.Sprintf("client_id %s is registered; its first authorization binds it to a handle or to the shared gateway", c.ClientID())
	case !c.Spec.Gateway && obs.handle == nil:
		ready.Reason = mcpv1alpha1.OAuthClientReasonHandleNotFound
		ready.Message = fmt.Sprintf("handle %q does not exist: create the Handle or fix spec.handle", c.Spec.Handle)
	default:
		if missing := missingScopes(c, obs.handle); len(missing) > 0 {
			ready.Reason = mcpv1alpha1.OAuthClientReasonScopesNotOffered
			ready.Message = fmt.Sprintf("handle %q does not offer %s: add them to the handle's spec.scopes or remove them from the client's allowedScopes/defaultScopes",
				obs.handle.Name, strings.Join(missing, ", "))
			break
		}
		ready.Status, ready.Reason = metav1.ConditionTrue, mcpv1alpha1.OAuthClientReasonReady
		url := cfg.GatewayURL()
		if !c.Spec.Gateway {
			url = cfg.HostedURL(c.Spec.Handle)
		}
		ready.Message = fmt.Sprintf("client_id %s can authorize %s", c.ClientID(), url)
	}
	conds := append([]metav1.Condition(nil), c.Status.Conditions...)
	meta.SetStatusCondition(&conds, ready)
	status := mcpv1alpha1.OAuthClientStatus{
		Conditions:         []metav1.Condition{*meta.FindStatusCondition(conds, ready.Type)},
		ClientID:           c.ClientID(),
		ObservedGeneration: c.Generation,
	}
	if ns, name, ok := strings.Cut(obs.secret, "/"); ok {
		status.SecretRef = &mcpv1alpha1.SecretReference{Namespace: ns, Name: name}
	}
	return status
}

// missingScopes lists the scopes the client asks for that its handle does
// not offer; gateway clients are checked per handle at authorization time.
func missingScopes(c *mcpv1alpha1.OAuthClient, h *mcpv1alpha1.Handle) []string {
	if h == nil {
		return nil
	}
	offered := h.OfferedScopes()
	var missing []string
	for _, s := range requestedScopes(c) {
		if !slices.Contains(offered, s) {
			missing = append(missing, string(s))
		}
	}
	return missing
}
