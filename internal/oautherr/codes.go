// Package oautherr holds the error codes the runtime answers with and
// mcpctl reads: the "error" of an OAuth error response and of the MCP
// endpoint's (shaped alike, so one parser reads both), and of an RFC 6750
// challenge. Only codes the product sends or reads are declared; it
// imports nothing, so mcpctl takes it without the runtime.
package oautherr

// OAuth 2.0/2.1 codes.
const (
	// InvalidRequest: a parameter is missing, repeated or malformed (RFC 6749 §4.1.2.1, §5.2; RFC 7009 §2.2.1).
	InvalidRequest = "invalid_request"
	// InvalidClient: the client is unknown or its authentication failed (RFC 6749 §5.2).
	InvalidClient = "invalid_client"
	// InvalidGrant: the code or refresh token is invalid, expired, revoked or another client's (RFC 6749 §5.2).
	InvalidGrant = "invalid_grant"
	// InvalidScope: a scope is unknown or beyond what was granted or allowed (RFC 6749 §4.1.2.1, §5.2).
	InvalidScope = "invalid_scope"
	// UnsupportedGrantType: the token endpoint does not serve this grant_type (RFC 6749 §5.2).
	UnsupportedGrantType = "unsupported_grant_type"
	// UnsupportedResponseType: the authorization endpoint serves only response_type=code (RFC 6749 §4.1.2.1).
	UnsupportedResponseType = "unsupported_response_type"
	// AccessDenied: the user or the authorization server refused the request (RFC 6749 §4.1.2.1).
	AccessDenied = "access_denied"
	// ServerError: an unexpected failure on our side (RFC 6749 §4.1.2.1).
	ServerError = "server_error"
	// TemporarilyUnavailable: a dependency (the apiserver, the sign-in provider) failed; retry (RFC 6749 §4.1.2.1).
	TemporarilyUnavailable = "temporarily_unavailable"
	// InvalidTarget: the resource indicator is not one this server or grant serves (RFC 8707 §2).
	InvalidTarget = "invalid_target"
	// InvalidToken: the bearer token is expired, revoked or forged (RFC 6750 §3.1).
	InvalidToken = "invalid_token"
	// InsufficientScope: the token's scopes do not cover the request (RFC 6750 §3.1).
	InsufficientScope = "insufficient_scope"
	// InvalidRedirectURI: a registered redirect URI is not acceptable (RFC 7591 §3.2.2).
	InvalidRedirectURI = "invalid_redirect_uri"
	// InvalidClientMetadata: a client metadata field is not acceptable (RFC 7591 §3.2.2).
	InvalidClientMetadata = "invalid_client_metadata"
	// SlowDown: too many requests from this client; retry later (RFC 8628 §3.5; 429 from registration and the token endpoint).
	SlowDown = "slow_down"
)

// The MCP endpoint's codes, from the guide's troubleshooting table and
// docs/mcp.md; the endpoint also answers InvalidToken and InsufficientScope.
const (
	// MissingBearerToken (401): no bearer token; OAuth was not completed.
	MissingBearerToken = "missing_bearer_token"
	// InvalidTokenFormat (401): a bearer that is not an mcpv1_ token, such as a cached personal access token.
	InvalidTokenFormat = "invalid_token_format"
	// TokenHandleMismatch (401): a valid token of another handle.
	TokenHandleMismatch = "token_handle_mismatch"
	// SessionHandleMismatch (401): an MCP session opened for another handle.
	SessionHandleMismatch = "session_handle_mismatch"
	// SessionNotFound (404): the MCP session is unknown, expired or another user's.
	SessionNotFound = "session_not_found"
	// HandleSuspended (403): the handle is suspended.
	HandleSuspended = "handle_suspended"
	// HandleNotFound (404): no such handle.
	HandleNotFound = "handle_not_found"
	// ForbiddenOrigin (403): a browser Origin that is not ours.
	ForbiddenOrigin = "forbidden_origin"
	// RateLimited (429): the grant or the handle is over its rate limit; Retry-After says when to retry.
	RateLimited = "rate_limited"
	// NotFound (404): no MCP endpoint or resource metadata at this URL.
	NotFound = "not_found"
)
