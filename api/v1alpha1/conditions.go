package v1alpha1

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Every condition type and reason the operator and the runtime set, in one
// place. Each reason says what it means and its severity: benign (a wait,
// or a state someone chose: a Normal event) or a warning (something a person
// must fix: a Warning event). Conditions that mirror the Gateway
// implementation's or cert-manager's status carry their reasons, which are
// warnings unless declared here. TestReasonsAreSet checks that each reason
// below is set by the operator's or the runtime's code.

// Condition types of a Handle.
const (
	// HandleConditionAccepted is True when the handle's hostnames are free;
	// False with HandleReasonHostnameConflict when an HTTPRoute the operator
	// does not own claims the handle's hostname. Written by the operator.
	HandleConditionAccepted = "Accepted"
	// HandleConditionRouteAccepted mirrors the Gateway implementation's parent
	// status (Accepted and ResolvedRefs) on the handle's HTTPRoutes, with its
	// reason and message. Written by the operator.
	HandleConditionRouteAccepted = "RouteAccepted"
	// HandleConditionCertificateReady mirrors cert-manager's Ready condition of
	// the certificate that serves the handle's hostname, with its reason.
	// Written by the operator.
	HandleConditionCertificateReady = "CertificateReady"
	// HandleConditionServing is True once the runtime has loaded the handle
	// and its toolsets answer. Written by the runtime replica that holds the
	// status Lease.
	HandleConditionServing = "Serving"
	// HandleConditionReady summarises: True when every other condition is
	// True; otherwise the reason of the first that is not. Written by the
	// operator.
	HandleConditionReady = "Ready"
)

// Reasons of the Handle's conditions.
const (
	// HandleReasonAccepted (Accepted, RouteAccepted True): the routes are
	// declared, or every parent Gateway accepted them.
	HandleReasonAccepted = "Accepted"
	// HandleReasonHostnameConflict (warning; Accepted, RouteAccepted,
	// CertificateReady, Ready): another HTTPRoute claimed the hostname first,
	// so no route was written.
	HandleReasonHostnameConflict = "HostnameConflict"
	// HandleReasonPending (benign; RouteAccepted, CertificateReady Unknown):
	// waiting for the Gateway implementation or cert-manager to report.
	HandleReasonPending = "Pending"
	// HandleReasonRouteNotFound (benign; RouteAccepted Unknown): the
	// handle's HTTPRoutes are being written.
	HandleReasonRouteNotFound = "RouteNotFound"
	// HandleReasonNotServing (benign; Ready False): no runtime has reported
	// Serving yet.
	HandleReasonNotServing = "NotServing"
	// HandleReasonSuspended (benign; Serving, Ready False): spec.suspended is
	// set; the endpoints answer 403 handle_suspended.
	HandleReasonSuspended = "Suspended"
	// HandleReasonServing (Serving True): the runtime serves the handle and
	// every toolset it names answers.
	HandleReasonServing = "Serving"
	// HandleReasonToolsetPending (benign; Serving, Ready False): a toolset
	// the handle names has not been checked yet.
	HandleReasonToolsetPending = "ToolsetPending"
	// HandleReasonToolsetNotFound (warning; Serving, Ready False): a toolset
	// the handle names does not exist.
	HandleReasonToolsetNotFound = "ToolsetNotFound"
	// HandleReasonToolsetUnreachable (warning; Serving, Ready False): a
	// toolset the handle names did not answer its last tools/list.
	HandleReasonToolsetUnreachable = "ToolsetUnreachable"
	// HandleReasonReady (Ready True): served at the hosted URL.
	HandleReasonReady = "Ready"
)

// Condition types of a Toolset.
const (
	// ToolsetConditionReachable is True when the upstream answered its last
	// tools/list. Written by the runtime replica that holds the status Lease,
	// from what it sees.
	ToolsetConditionReachable = "Reachable"
)

// Reasons of the Toolset's conditions.
const (
	// ToolsetReasonToolsListed (Reachable True): the upstream listed its
	// tools.
	ToolsetReasonToolsListed = "ToolsListed"
	// ToolsetReasonUpstreamError (warning; Reachable False): the last
	// tools/list failed; the message says how.
	ToolsetReasonUpstreamError = "UpstreamError"
)

// Condition types of an OAuthClient.
const (
	// OAuthClientConditionReady is True when the client has its id (and secret
	// for confidential clients), and its handle exists and offers the
	// requested scopes. Written by the operator.
	OAuthClientConditionReady = "Ready"
)

// Reasons of the OAuthClient's conditions.
const (
	// OAuthClientReasonReady (Ready True): the client can authorize its
	// handle's or the shared gateway's URL.
	OAuthClientReasonReady = "Ready"
	// OAuthClientReasonRegistered (Ready True): a dynamic client not yet
	// bound; its first authorization binds it.
	OAuthClientReasonRegistered = "Registered"
	// OAuthClientReasonHandleNotFound (warning; Ready False): spec.handle
	// names no Handle.
	OAuthClientReasonHandleNotFound = "HandleNotFound"
	// OAuthClientReasonScopesNotOffered (warning; Ready False): the client
	// asks for scopes its handle does not offer; the message names them.
	OAuthClientReasonScopesNotOffered = "ScopesNotOffered"
	// OAuthClientReasonGatewayDisabled (warning; Ready False): a shared
	// gateway client while the platform's sharedGateway is disabled.
	OAuthClientReasonGatewayDisabled = "GatewayDisabled"
	// OAuthClientReasonSecretConflict (warning; Ready False): a Secret of the
	// client secret's name exists and the client does not own it.
	OAuthClientReasonSecretConflict = "SecretConflict"
)

// Condition types of a Connection.
const (
	// ConnectionConditionReady is True once the bootstrap flow's smoke check
	// of tool discovery succeeded; False with the last error otherwise.
	// Written by the runtime.
	ConnectionConditionReady = "Ready"
)

// Reasons of the Connection's conditions.
const (
	// ConnectionReasonToolsDiscovered (Ready True): the handle's tools were
	// listed.
	ConnectionReasonToolsDiscovered = "ToolsDiscovered"
	// ConnectionReasonDiscoveryFailed (warning; Ready False): listing the
	// tools failed; see status.bootstrap.lastError.
	ConnectionReasonDiscoveryFailed = "DiscoveryFailed"
)

// benignReasons are the reasons a condition is not True while something is
// on its way or by someone's choice.
var benignReasons = []string{
	HandleReasonPending, HandleReasonRouteNotFound, HandleReasonNotServing, HandleReasonSuspended, HandleReasonToolsetPending,
}

// Benign reports whether reason, on a condition that is not True, is a wait
// or a chosen state rather than a problem.
func Benign(reason string) bool { return slices.Contains(benignReasons, reason) }

// Warning reports whether c calls for a Warning event: it is not True, for a
// reason that is not benign (mirrored reasons included).
func Warning(c metav1.Condition) bool {
	return c.Status != metav1.ConditionTrue && !Benign(c.Reason)
}
