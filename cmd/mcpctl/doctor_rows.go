package main

import (
	"strings"

	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
)

// The rows of the guide's troubleshooting table, by the name doctor gives
// them: the error code where the row has one. Their words are the guide's;
// only the URLs, the issuer and the setup script are this environment's
// (see troubleshootingRow).
const (
	rowMissingBearer   = oautherr.MissingBearerToken
	rowInvalidFormat   = oautherr.InvalidTokenFormat
	rowSessionMismatch = oautherr.SessionHandleMismatch
	rowGatewayTarget   = "gateway_invalid_target"
	rowInsufficient    = oautherr.InsufficientScope
	rowCallback        = "callback_allowlisting"
	rowOAuthFields     = "oauth_fields_empty"
	rowHostedFails     = "hosted_url_fails"
)

// rowOrder is the table's order.
var rowOrder = []string{rowMissingBearer, rowInvalidFormat, rowSessionMismatch, rowGatewayTarget,
	rowInsufficient, rowCallback, rowOAuthFields, rowHostedFails}

// troubleshootingRow is one row of the guide's table.
type troubleshootingRow struct {
	ID      string `json:"id"`
	Symptom string `json:"symptom"`
	Cause   string `json:"likely_cause"`
	Fix     string `json:"fix"`
}

// guideRows holds the table as the guide writes it for production, with
// placeholders for what depends on the environment and the target:
// {gateway_url}, {compat_url}, {issuer}, {setup_target}.
var guideRows = map[string]troubleshootingRow{
	rowMissingBearer: {Symptom: "401 missing_bearer_token", Cause: "OAuth was not completed",
		Fix: "Re-open the connector and finish OAuth"},
	rowInvalidFormat: {Symptom: "401 invalid_token_format", Cause: "Connector cached a non-MCP bearer",
		Fix: "Re-authorize the connector"},
	rowSessionMismatch: {Symptom: "401 session_handle_mismatch", Cause: "Existing MCP session was opened for a different handle",
		Fix: "Create one connector per handle"},
	rowGatewayTarget: {Symptom: "OAuth callback fails with invalid_target on {gateway_url}",
		Cause: "The shared gateway MCP resource is not registered on the deployed auth server yet",
		Fix:   "Deploy the shared gateway OAuth support, then retry the OAuth flow"},
	rowInsufficient: {Symptom: "403 insufficient_scope", Cause: "Approved scopes do not cover the requested tool",
		Fix: "Re-authorize with the missing scopes"},
	rowCallback: {Symptom: "OAuth reaches token exchange, then fails on callback allowlisting",
		Cause: "The connector's exact ChatGPT callback URL was not registered in the OAuth client's redirect_uris",
		Fix:   "Copy the exact callback URL from ChatGPT, re-run mcpctl setup-chatgpt-mcp-oauth {setup_target} --redirect-uri <exact-callback> or repair the existing client_id, then re-authorize"},
	rowOAuthFields: {Symptom: "OAuth fields stay empty in ChatGPT",
		Cause: "The advertised authorization_servers host is wrong for the environment",
		Fix:   "Re-check discovery. {environment} should advertise {issuer}, not a legacy shared API host."},
	rowHostedFails: {Symptom: "hosted URL fails but compatibility path works", Cause: "DNS/TLS or edge rollout is incomplete",
		Fix: "Use {compat_url} temporarily"},
}

// rowFor returns a row with this target's URLs in place of production's.
func rowFor(id string, t *target) *troubleshootingRow {
	r, ok := guideRows[id]
	if !ok {
		return nil
	}
	env := t.env
	if !t.hasEnv {
		env, _ = newEnvironment(defaultBaseDomain)
	}
	handle := t.handle
	if handle == "" {
		handle = "{handle}"
	}
	setupTarget := "--handle " + handle
	if t.gateway {
		setupTarget = "--gateway"
	}
	if t.hasEnv && env.base != defaultBaseDomain {
		setupTarget += " --base-domain " + env.base
	}
	issuer := t.issuer
	if issuer == "" {
		issuer = env.issuer()
	}
	environment := "This environment"
	if issuer == "https://ai.10x.in" {
		environment = "Production"
	}
	repl := strings.NewReplacer("{gateway_url}", env.gatewayURL(), "{compat_url}", env.compatibilityURL(handle),
		"{issuer}", issuer, "{setup_target}", setupTarget, "{environment}", environment)
	r.ID, r.Symptom, r.Cause, r.Fix = id, repl.Replace(r.Symptom), repl.Replace(r.Cause), repl.Replace(r.Fix)
	return &r
}
