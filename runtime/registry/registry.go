// Package registry registers OAuth clients as OAuthClient objects: RFC 7591
// dynamic registration, RFC 7592 reads and repairs with the registration
// access token, and the binding of a dynamically registered client to the
// resource of its first authorization.
package registry

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/audit"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// RegistrationTokenAnnotation holds the hash of a dynamic client's
// registration access token.
const RegistrationTokenAnnotation = "mcp.10x.in/registration-token-hash"

// RegistrationTokenPrefix starts registration access tokens.
const RegistrationTokenPrefix = "mcpreg1_"

// ErrInvalidRedirectURI and ErrInvalidMetadata are the RFC 7591 errors.
var (
	ErrInvalidRedirectURI = errors.New(oautherr.InvalidRedirectURI)
	ErrInvalidMetadata    = errors.New(oautherr.InvalidClientMetadata)
	ErrBoundElsewhere     = errors.New("the client is registered for another resource")
)

// Metadata is the client metadata of RFC 7591 that the server honours, plus
// the resource extension that binds the client at registration.
type Metadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	// Resource (an extension) binds the client to one MCP resource now
	// rather than at its first authorization.
	Resource string `json:"resource,omitempty"`
}

// Registration is a registered client as RFC 7591 and 7592 return it.
type Registration struct {
	Metadata
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
}

// Registry reads and writes OAuthClients.
type Registry struct {
	// Client writes, and reads what must be current (Authenticate, Bind).
	Client client.Client
	// Reader counts unused clients and finds identical ones: the informer
	// cache in production. Nil means Client.
	Reader client.Reader
	// Indexed says Reader has the field indexes of Index (the informer
	// cache in production).
	Indexed   bool
	Config    *platform.Config
	Namespace string
	// Limits bound what registrations leave behind; the zero value bounds
	// nothing.
	Limits Limits
	// Now is time.Now when nil.
	Now func() time.Time
	// Audit records clients registered, repaired and removed; nil records
	// nothing.
	Audit *audit.Auditor

	// mu serialises registrations on this replica, so that two identical
	// ones do not both create a client and a cap is not overshot; recent
	// holds what this replica created that Reader may not list yet.
	mu     sync.Mutex
	recent map[string]*mcpv1alpha1.OAuthClient
}

// Register validates metadata and creates a Dynamic OAuthClient (and the
// Secret of a confidential one), or answers an identical public client that
// no one has approved yet.
func (r *Registry) Register(ctx context.Context, md Metadata) (*Registration, error) {
	spec, err := r.specFor(md, nil)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	unused, err := r.unused(ctx)
	if err != nil {
		return nil, err
	}
	digest := specDigest(spec)
	if existing := r.stillUnused(ctx, identical(unused, spec, digest)); existing != nil && r.share(ctx, existing) {
		// Its registration access token exists only as a hash, and stays
		// with the first registrant: RFC 7592 management is theirs.
		reg := r.registration(existing)
		reg.RegistrationClientURI = ""
		return reg, nil
	}
	if err := r.checkCaps(ctx, unused, spec); err != nil {
		return nil, err
	}
	name := "dcr-" + tokens.RandomID()
	token, hash := tokens.NewOpaque(RegistrationTokenPrefix, name)
	c := &mcpv1alpha1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{RegistrationTokenAnnotation: hash},
			Labels: unusedLabels(spec, digest)},
		Spec: spec,
	}
	if err := r.Client.Create(ctx, c); err != nil {
		if apierrors.IsInvalid(err) {
			return nil, fmt.Errorf("%w: %s", ErrInvalidMetadata, err.Error())
		}
		return nil, fmt.Errorf("failed to register the client: %w", err)
	}
	r.remember(c)
	reg := r.registration(c)
	reg.RegistrationAccessToken = token
	if c.Confidential() {
		if reg.ClientSecret, err = r.createSecret(ctx, c); err != nil {
			_ = r.Client.Delete(ctx, c)
			return nil, err
		}
	}
	r.Audit.Client(ctx, audit.ClientRegistered, c, "")
	return reg, nil
}

// Authenticate returns the dynamic client a registration access token is
// for, or nil.
func (r *Registry) Authenticate(ctx context.Context, clientID, token string) (*mcpv1alpha1.OAuthClient, error) {
	c := &mcpv1alpha1.OAuthClient{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: clientID}, c); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to read client %s: %w", clientID, err)
	}
	hash := c.Annotations[RegistrationTokenAnnotation]
	if hash == "" || !strings.HasPrefix(token, RegistrationTokenPrefix) || !tokens.HashEqual(token, hash) {
		return nil, nil
	}
	return c, nil
}

// Describe returns the registration of a client (without its secret).
func (r *Registry) Describe(c *mcpv1alpha1.OAuthClient) *Registration { return r.registration(c) }

// Update replaces a dynamic client's metadata (RFC 7592): the way to repair
// its redirect URIs. Its binding cannot change.
func (r *Registry) Update(ctx context.Context, c *mcpv1alpha1.OAuthClient, md Metadata) (*Registration, error) {
	spec, err := r.specFor(md, c)
	if err != nil {
		return nil, err
	}
	c.Spec = spec
	if c.Labels[LabelUnused] != "" {
		c.Labels = mergeLabels(c.Labels, unusedLabels(spec, specDigest(spec)))
	}
	if err := r.Client.Update(ctx, c); err != nil {
		if apierrors.IsInvalid(err) {
			return nil, fmt.Errorf("%w: %s", ErrInvalidMetadata, err.Error())
		}
		return nil, fmt.Errorf("failed to update client %s: %w", c.Name, err)
	}
	r.Audit.Client(ctx, audit.ClientRepaired, c, "")
	return r.registration(c), nil
}

// Delete removes a dynamic client; its grants and Secret go with it.
func (r *Registry) Delete(ctx context.Context, c *mcpv1alpha1.OAuthClient) error {
	if err := r.Client.Delete(ctx, c); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to delete client %s: %w", c.Name, err)
	}
	r.Audit.Client(ctx, audit.ClientRemoved, c, "deleted by its registrant")
	return nil
}

// Bind binds an unbound dynamic client to the resource of its first
// authorization; a bound client must match it. The first approval also
// marks a dynamic client used (it no longer expires or counts as unused)
// and counts it on the approved handle, within Limits.MaxPerHandle. A
// client that is no object (clientName "": an undeclared client ID metadata
// document client) is never bound: each of its grants carries its own
// resource.
func (r *Registry) Bind(ctx context.Context, clientName string, res platform.Resource) error {
	if clientName == "" {
		return nil
	}
	for attempt := 0; ; attempt++ {
		c := &mcpv1alpha1.OAuthClient{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: clientName}, c); err != nil {
			return fmt.Errorf("failed to read client %s: %w", clientName, err)
		}
		bound := c.Spec.Gateway || c.Spec.Handle != ""
		if bound && (c.Spec.Gateway != (res.Kind == platform.ResourceGateway) || !c.Spec.Gateway && c.Spec.Handle != res.Handle) {
			return ErrBoundElsewhere
		}
		if c.Labels[LabelUnused] == "" && (bound || c.Annotations[SharedAnnotation] != "") {
			return nil
		}
		if err := r.markUsed(ctx, c, res.Handle); err != nil {
			return err
		}
		// A shared client serves registrants who may approve on other
		// resources: each of its grants carries its own, as a client ID
		// metadata document client's do.
		if !bound && c.Annotations[SharedAnnotation] == "" {
			setBinding(&c.Spec, res)
		}
		err := r.Client.Update(ctx, c)
		if err == nil || !apierrors.IsConflict(err) || attempt == 3 {
			return err
		}
	}
}

func setBinding(spec *mcpv1alpha1.OAuthClientSpec, res platform.Resource) {
	if res.Kind == platform.ResourceGateway {
		spec.Gateway = true
	} else {
		spec.Handle = res.Handle
	}
}

// specFor validates metadata into a spec, keeping the binding of an
// existing client.
func (r *Registry) specFor(md Metadata, existing *mcpv1alpha1.OAuthClient) (mcpv1alpha1.OAuthClientSpec, error) {
	var spec mcpv1alpha1.OAuthClientSpec
	if len(md.RedirectURIs) == 0 {
		return spec, fmt.Errorf("%w: redirect_uris is required: there is no default callback", ErrInvalidRedirectURI)
	}
	if len(md.RedirectURIs) > 16 {
		return spec, fmt.Errorf("%w: at most 16 redirect_uris", ErrInvalidRedirectURI)
	}
	for _, u := range md.RedirectURIs {
		if err := mcpv1alpha1.RedirectURI(u).Validate(); err != nil {
			return spec, fmt.Errorf("%w: %s: %s", ErrInvalidRedirectURI, u, err.Error())
		}
		if !slices.Contains(spec.RedirectURIs, mcpv1alpha1.RedirectURI(u)) {
			spec.RedirectURIs = append(spec.RedirectURIs, mcpv1alpha1.RedirectURI(u))
		}
	}
	spec.ClientName = strings.TrimSpace(md.ClientName)
	if spec.ClientName == "" {
		spec.ClientName = "MCP client"
	}
	if len(spec.ClientName) > 128 {
		return spec, fmt.Errorf("%w: client_name is longer than 128 bytes", ErrInvalidMetadata)
	}
	switch md.TokenEndpointAuthMethod {
	case "":
		// RFC 7591 section 2.
		spec.TokenEndpointAuthMethod = mcpv1alpha1.TokenEndpointAuthClientSecretBasic
	case "none", "client_secret_basic", "client_secret_post":
		spec.TokenEndpointAuthMethod = mcpv1alpha1.TokenEndpointAuthMethod(md.TokenEndpointAuthMethod)
	default:
		return spec, fmt.Errorf("%w: token_endpoint_auth_method must be none, client_secret_basic or client_secret_post", ErrInvalidMetadata)
	}
	if err := spec.PublicRedirects(); err != nil {
		return spec, fmt.Errorf("%w: %s", ErrInvalidRedirectURI, err.Error())
	}
	for _, g := range md.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			return spec, fmt.Errorf("%w: grant type %q is not supported", ErrInvalidMetadata, g)
		}
	}
	for _, t := range md.ResponseTypes {
		if t != "code" {
			return spec, fmt.Errorf("%w: response type %q is not supported", ErrInvalidMetadata, t)
		}
	}
	for _, s := range strings.Fields(md.Scope) {
		if _, ok := mcpv1alpha1.LookupScope(s); !ok {
			return spec, fmt.Errorf("%w: unknown scope %q", ErrInvalidMetadata, s)
		}
		if !slices.Contains(spec.DefaultScopes, mcpv1alpha1.Scope(s)) {
			spec.DefaultScopes = append(spec.DefaultScopes, mcpv1alpha1.Scope(s))
		}
	}
	spec.Registration = mcpv1alpha1.RegistrationDynamic
	switch {
	case existing != nil:
		spec.Handle, spec.Gateway = existing.Spec.Handle, existing.Spec.Gateway
		spec.Registration = existing.Spec.Registration
	case md.Resource != "":
		res, ok := r.Config.ResourceOf(md.Resource)
		if !ok {
			return spec, fmt.Errorf("%w: resource %q is not an MCP resource of this server", ErrInvalidMetadata, md.Resource)
		}
		setBinding(&spec, res)
	}
	return spec, nil
}

func (r *Registry) registration(c *mcpv1alpha1.OAuthClient) *Registration {
	md := Metadata{ClientName: c.Spec.ClientName, TokenEndpointAuthMethod: string(c.Spec.TokenEndpointAuthMethod),
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"}}
	for _, u := range c.Spec.RedirectURIs {
		md.RedirectURIs = append(md.RedirectURIs, string(u))
	}
	var scopes []string
	for _, s := range c.Spec.DefaultScopes {
		scopes = append(scopes, string(s))
	}
	md.Scope = strings.Join(scopes, " ")
	if c.Spec.Gateway {
		md.Resource = r.Config.SharedGatewayURL()
	} else if c.Spec.Handle != "" {
		md.Resource = r.Config.HostedURL(c.Spec.Handle)
	}
	reg := &Registration{Metadata: md, ClientID: c.ClientID(), ClientIDIssuedAt: c.CreationTimestamp.Unix(),
		RegistrationClientURI: r.Config.Issuer + "/oauth/register/" + url.PathEscape(c.ClientID())}
	if c.Confidential() {
		never := int64(0)
		reg.ClientSecretExpiresAt = &never
	}
	return reg
}

// createSecret writes a confidential client's secret into the Secret the
// operator would create, owned by the client; the operator keeps it.
func (r *Registry) createSecret(ctx context.Context, c *mcpv1alpha1.OAuthClient) (string, error) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	value := base64.RawURLEncoding.EncodeToString(raw)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: c.SecretName(), Namespace: r.Namespace, Labels: map[string]string{
			mcpv1alpha1.LabelManagedBy: mcpv1alpha1.LabelManagedByValue, mcpv1alpha1.LabelOAuthClient: c.Name}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{mcpv1alpha1.ClientSecretKey: []byte(value)},
	}
	if err := controllerutil.SetControllerReference(c, s, r.Client.Scheme()); err != nil {
		return "", err
	}
	if err := r.Client.Create(ctx, s); err != nil {
		return "", fmt.Errorf("failed to store the client secret: %w", err)
	}
	return value, nil
}
