// Package platform reads the platform configuration: one YAML file, rendered
// by the Helm chart from its values, that the operator and the runtime both
// read. Invalid configuration fails at start-up with a message naming the
// field.
package platform

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// TLS modes.
const (
	// TLSModeWildcard serves every handle with one Certificate for
	// *.{mcpDomain} and the gateway host, referenced by the Gateway listener.
	TLSModeWildcard = "wildcard"
	// TLSModePerHandle gives each handle its own Certificate, attached to the
	// Gateway with a ListenerSet.
	TLSModePerHandle = "perHandle"
)

// Config is the platform configuration.
type Config struct {
	// MCPDomain is the parent domain of the hosted MCP hosts:
	// https://{handle}.{mcpDomain}/mcp.
	MCPDomain string `json:"mcpDomain"`
	// GatewayHost serves the shared app URL https://{gatewayHost}/mcp, the
	// compatibility paths, the OAuth endpoints and the web pages.
	GatewayHost string `json:"gatewayHost"`
	// Issuer is the OAuth issuer URL advertised in every protected-resource
	// metadata document: the gateway host's origin, where the runtime serves
	// the authorization server. Defaults to that origin; setting it guards a
	// deployment against advertising anything else.
	Issuer string `json:"issuer,omitempty"`
	// PublicPort is the port clients use for the hosts above, 443 unless the
	// gateway listens elsewhere (the local stack does).
	PublicPort int32 `json:"publicPort,omitempty"`
	// Namespace holds the objects the operator writes: HTTPRoutes,
	// Certificates, ListenerSets and client Secrets.
	Namespace string `json:"namespace"`
	// GatewayRefs are the Gateways (and listeners) the routes attach to.
	GatewayRefs []GatewayRef `json:"gatewayRefs"`
	// RuntimeService is the Service of the runtime the routes point to.
	RuntimeService ServiceRef `json:"runtimeService"`
	// TLS says how hosted hosts get certificates.
	TLS TLS `json:"tls"`
	// SharedGateway configures the shared app URL https://{gatewayHost}/mcp.
	SharedGateway SharedGateway `json:"sharedGateway"`
	// SignIn configures how people sign in on the authorization server.
	SignIn SignIn `json:"signIn,omitempty"`
	// LegacyAuthorizationServers are hosts that once served OAuth for this
	// environment and must never be advertised again.
	LegacyAuthorizationServers []string `json:"legacyAuthorizationServers,omitempty"`
	// ClientIDMetadataDocuments configures clients whose client_id is the
	// https URL of their metadata document.
	ClientIDMetadataDocuments ClientIDMetadataDocuments `json:"clientIDMetadataDocuments,omitempty"`
	// TrustedProxies are the CIDRs of the proxies in front of the runtime
	// (the Gateway's pods): a request from one of them is attributed to the
	// rightmost X-Forwarded-For hop outside them. Empty: the connecting
	// address is the client's.
	TrustedProxies []string `json:"trustedProxies,omitempty"`
	// RateLimits are the runtime's request limits; omitted ones take their
	// defaults (DefaultRateLimits).
	RateLimits RateLimits `json:"rateLimits,omitempty"`
}

// RateLimits are token buckets per replica (docs/runtime.md#rate-limits).
type RateLimits struct {
	// MCPPerGrant limits one grant's requests to the MCP endpoint.
	MCPPerGrant *RateLimit `json:"mcpPerGrant,omitempty"`
	// MCPPerHandle limits the requests to one handle's MCP endpoint, all
	// grants together.
	MCPPerHandle *RateLimit `json:"mcpPerHandle,omitempty"`
	// Registration limits dynamic registrations per client address.
	Registration *RateLimit `json:"registration,omitempty"`
	// SignIn limits password sign-ins (POST /ui/login) per client address.
	SignIn *RateLimit `json:"signIn,omitempty"`
	// Token limits token endpoint requests per client address.
	Token *RateLimit `json:"token,omitempty"`
}

// RateLimit is a sustained rate and a burst.
type RateLimit struct {
	// RequestsPerMinute is the sustained rate; 0 means no limit.
	RequestsPerMinute int `json:"requestsPerMinute"`
	// Burst is how many requests may come at once; defaults to
	// RequestsPerMinute.
	Burst int `json:"burst,omitempty"`
}

// DefaultRateLimits are the limits of a configuration that names none.
// Hosted connectors (ChatGPT, Claude) call the token and registration
// endpoints from their own servers, so one address carries many of their
// users: those limits are per address, not per person.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		MCPPerGrant:  &RateLimit{RequestsPerMinute: 600, Burst: 100},
		MCPPerHandle: &RateLimit{RequestsPerMinute: 6000, Burst: 1000},
		Registration: &RateLimit{RequestsPerMinute: 10, Burst: 10},
		SignIn:       &RateLimit{RequestsPerMinute: 30, Burst: 30},
		Token:        &RateLimit{RequestsPerMinute: 600, Burst: 200},
	}
}

// fields lists the limits by their configuration names.
func (r *RateLimits) fields() []struct {
	name  string
	limit **RateLimit
} {
	return []struct {
		name  string
		limit **RateLimit
	}{{"mcpPerGrant", &r.MCPPerGrant}, {"mcpPerHandle", &r.MCPPerHandle}, {"registration", &r.Registration},
		{"signIn", &r.SignIn}, {"token", &r.Token}}
}

// maxRequestsPerMinute bounds a limit (and the Handle's override).
const maxRequestsPerMinute = 1_000_000

// TrustedProxyPrefixes returns TrustedProxies parsed (validated by Parse).
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// ClientIDMetadataDocuments configures client ID metadata documents
// (draft-ietf-oauth-client-id-metadata-document).
type ClientIDMetadataDocuments struct {
	// Enabled lets the runtime fetch the document of an https client_id and
	// advertises client_id_metadata_document_supported. Defaults to true.
	// When false, only OAuthClients declared with registration
	// MetadataDocument are served, as declared, without a fetch.
	Enabled *bool `json:"enabled,omitempty"`
}

// ClientIDMetadataDocumentsEnabled reports whether the runtime fetches
// client ID metadata documents (the default).
func (c *Config) ClientIDMetadataDocumentsEnabled() bool {
	return c.ClientIDMetadataDocuments.Enabled == nil || *c.ClientIDMetadataDocuments.Enabled
}

// GatewayRef names a Gateway and optionally one of its listeners.
type GatewayRef struct {
	Name        string `json:"name"`
	Namespace   string `json:"namespace"`
	SectionName string `json:"sectionName,omitempty"`
}

// ServiceRef names a Service port.
type ServiceRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Port      int32  `json:"port"`
}

// TLS configures certificates.
type TLS struct {
	// Mode is wildcard (default) or perHandle.
	Mode string `json:"mode,omitempty"`
	// IssuerRef is the cert-manager issuer that signs the certificates.
	IssuerRef IssuerRef `json:"issuerRef"`
	// SecretName is the Secret of the platform certificate, which the
	// Gateway's HTTPS listener references: *.{mcpDomain} and the gateway host
	// in wildcard mode, the gateway host only in perHandle mode. Defaults to
	// mcp-platform-tls.
	SecretName string `json:"secretName,omitempty"`
}

// IssuerRef names a cert-manager Issuer or ClusterIssuer.
type IssuerRef struct {
	Name  string `json:"name"`
	Kind  string `json:"kind,omitempty"`
	Group string `json:"group,omitempty"`
}

// SharedGateway configures the shared app URL.
type SharedGateway struct {
	// Enabled serves https://{gatewayHost}/mcp. When false, the shared URL is
	// not a registered resource and authorizing it gets invalid_target.
	Enabled bool `json:"enabled"`
}

// SignIn configures sign-in. The runtime needs one method: static users,
// an OpenID Connect provider, or both.
type SignIn struct {
	// StaticUsersSecret names a Secret in the platform namespace whose key
	// users.yaml lists users with bcrypt password hashes, for local stacks
	// and tests.
	StaticUsersSecret string `json:"staticUsersSecret,omitempty"`
	// OIDC signs people in through an upstream OpenID Connect provider
	// (Dex, Keycloak, Google...).
	OIDC *OIDCSignIn `json:"oidc,omitempty"`
}

// OIDCSignIn is an upstream OpenID Connect provider. The runtime is its
// confidential client; its redirect URI is {issuer}/ui/oidc/callback.
type OIDCSignIn struct {
	// IssuerURL is the provider's issuer, exactly as its discovery document
	// states it (https; http only on a loopback host).
	IssuerURL string `json:"issuerURL"`
	// ClientID is the runtime's client at the provider.
	ClientID string `json:"clientID"`
	// ClientSecretRef names the key of a Secret in the platform namespace
	// that holds the client secret.
	ClientSecretRef SecretKeyRef `json:"clientSecretRef"`
	// Scopes requested at the provider; default openid email profile. Must
	// include openid (and, for most providers, email).
	Scopes []string `json:"scopes,omitempty"`
	// GroupsClaim is the ID token claim listing the user's groups (matched
	// against Handle members' groups), for example groups. Unset: no groups.
	GroupsClaim string `json:"groupsClaim,omitempty"`
	// DisplayName names the provider on the button "Sign in with ...";
	// defaults to the issuer's host.
	DisplayName string `json:"displayName,omitempty"`
}

// SecretKeyRef names one key of a Secret in the platform namespace.
type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// OIDCCallbackPath is where the upstream provider sends the browser back,
// on the gateway host.
const OIDCCallbackPath = "/ui/oidc/callback"

// OIDCRedirectURL returns the redirect URI to register at the upstream
// provider.
func (c *Config) OIDCRedirectURL() string { return c.Issuer + OIDCCallbackPath }

// RequireSignIn reports an error unless a sign-in method is configured; the
// runtime needs one, the operator none.
func (c *Config) RequireSignIn() error {
	if c.SignIn.StaticUsersSecret == "" && c.SignIn.OIDC == nil {
		return errors.New("signIn: no sign-in method: set signIn.staticUsersSecret, signIn.oidc or both")
	}
	return nil
}

// Load reads, defaults and validates the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read the platform configuration: %w", err)
	}
	return Parse(data)
}

// Parse decodes, defaults and validates a configuration document. Unknown
// fields are errors, so a typo does not silently fall back to a default.
func Parse(data []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("invalid platform configuration: %w", err)
	}
	c.setDefaults()
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("invalid platform configuration: %w", err)
	}
	return &c, nil
}

func (c *Config) setDefaults() {
	c.MCPDomain = strings.ToLower(strings.TrimSuffix(c.MCPDomain, "."))
	c.GatewayHost = strings.ToLower(strings.TrimSuffix(c.GatewayHost, "."))
	if c.PublicPort == 0 {
		c.PublicPort = 443
	}
	if c.Issuer == "" && c.GatewayHost != "" {
		c.Issuer = c.origin(c.GatewayHost)
	}
	if c.TLS.Mode == "" {
		c.TLS.Mode = TLSModeWildcard
	}
	if c.TLS.IssuerRef.Kind == "" {
		c.TLS.IssuerRef.Kind = "ClusterIssuer"
	}
	if c.TLS.IssuerRef.Group == "" {
		c.TLS.IssuerRef.Group = "cert-manager.io"
	}
	if c.TLS.SecretName == "" {
		c.TLS.SecretName = "mcp-platform-tls"
	}
	d := DefaultRateLimits()
	defaults := d.fields()
	for i, f := range c.RateLimits.fields() {
		if *f.limit == nil {
			*f.limit = *defaults[i].limit
		} else if (*f.limit).Burst == 0 {
			(*f.limit).Burst = (*f.limit).RequestsPerMinute
		}
	}
	if o := c.SignIn.OIDC; o != nil {
		if len(o.Scopes) == 0 {
			o.Scopes = []string{"openid", "email", "profile"}
		}
		if u, err := url.Parse(o.IssuerURL); o.DisplayName == "" && err == nil {
			o.DisplayName = u.Hostname()
		}
	}
}

func (c *Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	dnsName := func(field, v string) {
		if v == "" {
			bad(field, "required")
		} else if msgs := validation.IsDNS1123Subdomain(v); len(msgs) > 0 {
			bad(field, "%q is not a DNS name: %s", v, strings.Join(msgs, "; "))
		}
	}
	dnsLabel := func(field, v string) {
		if v == "" {
			bad(field, "required")
		} else if msgs := validation.IsDNS1123Label(v); len(msgs) > 0 {
			bad(field, "%q is not a DNS label: %s", v, strings.Join(msgs, "; "))
		}
	}
	dnsName("mcpDomain", c.MCPDomain)
	dnsName("gatewayHost", c.GatewayHost)
	if c.GatewayHost != "" && strings.HasSuffix(c.GatewayHost, "."+c.MCPDomain) {
		bad("gatewayHost", "%q must not be a host under mcpDomain %q: it would be taken for a handle", c.GatewayHost, c.MCPDomain)
	}
	if c.Issuer == "" {
		bad("issuer", "required when gatewayHost is not set")
	} else if u, err := url.Parse(c.Issuer); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("issuer", "%q must be an https URL without query or fragment (RFC 8414)", c.Issuer)
	} else if c.isLegacy(u.Hostname()) {
		bad("issuer", "%q is listed in legacyAuthorizationServers and must never be advertised", c.Issuer)
	} else if c.GatewayHost != "" && strings.TrimSuffix(c.Issuer, "/") != c.origin(c.GatewayHost) {
		bad("issuer", "%q must be the gateway host's origin %s: the runtime serves the authorization server there", c.Issuer, c.origin(c.GatewayHost))
	}
	if c.PublicPort < 1 || c.PublicPort > 65535 {
		bad("publicPort", "%d is not a TCP port", c.PublicPort)
	}
	dnsLabel("namespace", c.Namespace)
	if len(c.GatewayRefs) == 0 {
		bad("gatewayRefs", "at least one Gateway is required")
	}
	for i, g := range c.GatewayRefs {
		dnsName(fmt.Sprintf("gatewayRefs[%d].name", i), g.Name)
		dnsLabel(fmt.Sprintf("gatewayRefs[%d].namespace", i), g.Namespace)
		if g.SectionName != "" {
			dnsName(fmt.Sprintf("gatewayRefs[%d].sectionName", i), g.SectionName)
		}
	}
	dnsLabel("runtimeService.name", c.RuntimeService.Name)
	dnsLabel("runtimeService.namespace", c.RuntimeService.Namespace)
	if c.RuntimeService.Port < 1 || c.RuntimeService.Port > 65535 {
		bad("runtimeService.port", "%d is not a TCP port", c.RuntimeService.Port)
	}
	switch c.TLS.Mode {
	case TLSModeWildcard, TLSModePerHandle:
	default:
		bad("tls.mode", "%q must be %s or %s", c.TLS.Mode, TLSModeWildcard, TLSModePerHandle)
	}
	dnsName("tls.issuerRef.name", c.TLS.IssuerRef.Name)
	if k := c.TLS.IssuerRef.Kind; k != "Issuer" && k != "ClusterIssuer" {
		bad("tls.issuerRef.kind", "%q must be Issuer or ClusterIssuer", k)
	}
	dnsName("tls.secretName", c.TLS.SecretName)
	if n := c.SignIn.StaticUsersSecret; n != "" {
		dnsName("signIn.staticUsersSecret", n)
	}
	if o := c.SignIn.OIDC; o != nil {
		errs = append(errs, o.validate(dnsName)...)
	}
	for i, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			bad(fmt.Sprintf("trustedProxies[%d]", i), "%q is not a CIDR such as 10.0.0.0/8 or fd00::/8", p)
		}
	}
	for _, f := range c.RateLimits.fields() {
		if l := *f.limit; l.RequestsPerMinute < 0 || l.RequestsPerMinute > maxRequestsPerMinute {
			bad("rateLimits."+f.name+".requestsPerMinute", "%d must be 0 (no limit) to %d", l.RequestsPerMinute, maxRequestsPerMinute)
		} else if l.Burst < 0 || l.Burst > maxRequestsPerMinute {
			bad("rateLimits."+f.name+".burst", "%d must be 1 to %d", l.Burst, maxRequestsPerMinute)
		}
	}
	for i, h := range c.LegacyAuthorizationServers {
		if h == "" || strings.ContainsAny(h, "/:") {
			bad(fmt.Sprintf("legacyAuthorizationServers[%d]", i), "%q must be a bare host name", h)
		}
	}
	return errors.Join(errs...)
}

// validate checks the OIDC provider's settings; dnsName reports through the
// caller's error list.
func (o *OIDCSignIn) validate(dnsName func(field, v string)) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("signIn.oidc.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if o.IssuerURL == "" {
		bad("issuerURL", "required")
	} else if u, err := url.Parse(o.IssuerURL); err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		bad("issuerURL", "%q must be an absolute URL without user, query or fragment", o.IssuerURL)
	} else if u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())) {
		bad("issuerURL", "%q must be an https URL (http only on localhost or a loopback address)", o.IssuerURL)
	} else if len(o.IssuerURL) > 512 {
		bad("issuerURL", "longer than 512 characters")
	}
	if o.ClientID == "" {
		bad("clientID", "required")
	} else if len(o.ClientID) > 512 || strings.ContainsFunc(o.ClientID, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		bad("clientID", "%q must be at most 512 printable ASCII characters without spaces", o.ClientID)
	}
	dnsName("signIn.oidc.clientSecretRef.name", o.ClientSecretRef.Name)
	if o.ClientSecretRef.Key == "" {
		bad("clientSecretRef.key", "required")
	} else if msgs := validation.IsConfigMapKey(o.ClientSecretRef.Key); len(msgs) > 0 {
		bad("clientSecretRef.key", "%q is not a Secret key: %s", o.ClientSecretRef.Key, strings.Join(msgs, "; "))
	}
	if !slices.Contains(o.Scopes, "openid") {
		bad("scopes", "%q must include openid", o.Scopes)
	}
	for i, sc := range o.Scopes {
		if sc == "" || strings.ContainsFunc(sc, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '"' || r == '\\' }) {
			bad(fmt.Sprintf("scopes[%d]", i), "%q is not an OAuth scope token", sc)
		}
	}
	if o.GroupsClaim != "" && (len(o.GroupsClaim) > 256 || strings.ContainsFunc(o.GroupsClaim, unicode.IsSpace)) {
		bad("groupsClaim", "%q must be a claim name without spaces, at most 256 characters", o.GroupsClaim)
	}
	if n := len([]rune(o.DisplayName)); n > 64 || (n == 0 && o.IssuerURL != "") {
		bad("displayName", "must be 1 to 64 characters")
	}
	return errs
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLegacy reports whether host is one of the legacy authorization servers.
func (c *Config) isLegacy(host string) bool {
	for _, h := range c.LegacyAuthorizationServers {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// origin returns the https origin of host on the public port.
func (c *Config) origin(host string) string {
	if c.PublicPort == 443 {
		return "https://" + host
	}
	return fmt.Sprintf("https://%s:%d", host, c.PublicPort)
}

// HostedHost returns {handle}.{mcpDomain}.
func (c *Config) HostedHost(handle string) string { return handle + "." + c.MCPDomain }

// HostedURL returns the canonical hosted MCP URL of a handle.
func (c *Config) HostedURL(handle string) string { return c.origin(c.HostedHost(handle)) + MCPPath }

// GatewayURL returns the shared app URL, or "" when the shared gateway is
// disabled.
func (c *Config) GatewayURL() string {
	if !c.SharedGateway.Enabled {
		return ""
	}
	return c.SharedGatewayURL()
}

// SharedGatewayURL returns https://{gatewayHost}/mcp whether or not the
// shared gateway is enabled, for messages that explain why it is not.
func (c *Config) SharedGatewayURL() string { return c.origin(c.GatewayHost) + MCPPath }

// CompatibilityURL returns the fallback URL of a handle on the gateway host.
func (c *Config) CompatibilityURL(handle string) string {
	return c.origin(c.GatewayHost) + CompatibilityPath(handle)
}
