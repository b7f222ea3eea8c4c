package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/runtime/audit"
)

// Limits keep dynamic registration from growing without bound. A client
// is unused from its registration until its first approval (Bind).
type Limits struct {
	// UnusedTTL is how long an unused dynamic client lives; Expire deletes
	// it after that. 0 keeps it.
	UnusedTTL time.Duration
	// MaxUnused caps the unused dynamic clients of the whole platform. 0
	// means no cap.
	MaxUnused int
	// MaxPerHandle caps the dynamic clients counted on one handle: those
	// registered for it (resource) and those first approved on it, used or
	// not. 0 means no cap.
	MaxPerHandle int
}

// The defaults of cmd/runtime's flags (docs/runtime.md#clients).
const (
	DefaultUnusedTTL    = time.Hour
	DefaultMaxUnused    = 1000
	DefaultMaxPerHandle = 500
)

// Labels of the dynamic clients the registry writes. They are labels, not
// annotations, so that kubectl can select them (kubectl get oac -l
// mcp.10x.in/unused).
const (
	// LabelUnused marks a dynamic client that no one has approved yet;
	// its first approval removes it. Clients registered before this label
	// existed never carry it, so they never expire.
	LabelUnused = "mcp.10x.in/unused"
	// LabelDigest is the digest of an unused public client's metadata, the
	// key of an identical registration.
	LabelDigest = "mcp.10x.in/registration-digest"
)

// Field indexes of an informer cache (Index): without them a label
// selector scans every OAuthClient, used ones included.
const (
	unusedIndex = "registry.unused"
	handleIndex = "registry.handle"
)

// Index registers the registry's field indexes with an informer cache,
// before it starts; set Registry.Indexed when they are.
func Index(ctx context.Context, indexer client.FieldIndexer) error {
	for name, label := range map[string]string{unusedIndex: LabelUnused, handleIndex: mcpv1alpha1.LabelHandle} {
		err := indexer.IndexField(ctx, &mcpv1alpha1.OAuthClient{}, name, func(o client.Object) []string {
			if v := o.GetLabels()[label]; v != "" && o.(*mcpv1alpha1.OAuthClient).Spec.Registration == mcpv1alpha1.RegistrationDynamic {
				return []string{v}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("failed to index OAuthClients by %s: %w", label, err)
		}
	}
	return nil
}

// selecting selects the dynamic clients with a registry label: through
// its field index when Reader has them.
func (r *Registry) selecting(label, value string) client.ListOption {
	if !r.Indexed {
		return client.MatchingLabels{label: value}
	}
	if label == LabelUnused {
		return client.MatchingFields{unusedIndex: value}
	}
	return client.MatchingFields{handleIndex: value}
}

// recentFor bounds how long a client this replica created is counted
// without Reader listing it (the informer's lag is milliseconds).
const recentFor = 30 * time.Second

// ErrHandleFull is Limits.MaxPerHandle reached.
var ErrHandleFull = errors.New("too many dynamically registered clients")

// UnusedCapError is Limits.MaxUnused reached; the oldest unused client
// expires after RetryAfter.
type UnusedCapError struct {
	Max        int
	RetryAfter time.Duration
}

func (e *UnusedCapError) Error() string {
	return fmt.Sprintf("%d registered clients have not completed an authorization yet, the most this server keeps; "+
		"unused registrations expire, retry later", e.Max)
}

// RefusalCode returns the OAuth error with which the authorization endpoint
// refuses an approval that Bind refused, or "" when err is no refusal.
func RefusalCode(err error) string {
	switch {
	case errors.Is(err, ErrBoundElsewhere):
		return oautherr.InvalidTarget
	case errors.Is(err, ErrHandleFull):
		return oautherr.AccessDenied
	}
	return ""
}

func (r *Registry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Registry) reader() client.Reader {
	if r.Reader != nil {
		return r.Reader
	}
	return r.Client
}

// expired says whether an unused client has outlived Limits.UnusedTTL.
func (r *Registry) expired(c *mcpv1alpha1.OAuthClient, now time.Time) bool {
	return r.Limits.UnusedTTL > 0 && !c.CreationTimestamp.Add(r.Limits.UnusedTTL).After(now)
}

// unused returns the unused dynamic clients that have not expired, those
// this replica created a moment ago included. The objects are shared with
// the cache: read them only.
func (r *Registry) unused(ctx context.Context) ([]*mcpv1alpha1.OAuthClient, error) {
	var l mcpv1alpha1.OAuthClientList
	if err := r.reader().List(ctx, &l, r.selecting(LabelUnused, "true"), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("failed to list unused clients: %w", err)
	}
	now := r.now()
	var out []*mcpv1alpha1.OAuthClient
	for i := range l.Items {
		c := &l.Items[i]
		delete(r.recent, c.Name)
		if c.Spec.Registration == mcpv1alpha1.RegistrationDynamic && c.DeletionTimestamp.IsZero() && !r.expired(c, now) {
			out = append(out, c)
		}
	}
	for name, c := range r.recent {
		if now.Sub(c.CreationTimestamp.Time) > recentFor {
			delete(r.recent, name)
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// remember counts a created client until Reader lists it.
func (r *Registry) remember(c *mcpv1alpha1.OAuthClient) {
	if r.recent == nil {
		r.recent = map[string]*mcpv1alpha1.OAuthClient{}
	}
	r.recent[c.Name] = c.DeepCopy()
}

// identical returns the oldest unused public client whose spec a
// registration would repeat, or nil. Confidential clients are never shared:
// each registrant gets its own secret.
func identical(unused []*mcpv1alpha1.OAuthClient, spec mcpv1alpha1.OAuthClientSpec, digest string) *mcpv1alpha1.OAuthClient {
	if spec.TokenEndpointAuthMethod != mcpv1alpha1.TokenEndpointAuthNone {
		return nil
	}
	var found *mcpv1alpha1.OAuthClient
	for _, c := range unused {
		if c.Labels[LabelDigest] != digest || specDigest(c.Spec) != digest {
			continue
		}
		if found == nil || c.CreationTimestamp.Before(&found.CreationTimestamp) {
			found = c
		}
	}
	return found
}

// stillUnused re-reads a client the cache found unused from the apiserver:
// another replica may have just approved (and bound) it, and answering it
// to a new registrant would bind them to that resource. Nil when it is used
// now, gone, or unreadable (a new client is registered instead).
func (r *Registry) stillUnused(ctx context.Context, c *mcpv1alpha1.OAuthClient) *mcpv1alpha1.OAuthClient {
	if c == nil {
		return nil
	}
	fresh := &mcpv1alpha1.OAuthClient{}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(c), fresh); err != nil || fresh.Labels[LabelUnused] == "" {
		return nil
	}
	return fresh
}

// SharedAnnotation marks an unbound dynamic client answered to more than
// one registration: its first approval does not bind it, since the other
// registrants may approve it on other handles.
const SharedAnnotation = "mcp.10x.in/shared"

// share prepares an identical unused client, as just read from the
// apiserver, to answer one more registration: an unbound one is marked
// shared first (once), in that version, so that an approval binding it
// meanwhile wins and the registration gets a client of its own (false).
func (r *Registry) share(ctx context.Context, c *mcpv1alpha1.OAuthClient) bool {
	if c.Spec.Gateway || c.Spec.Handle != "" || c.Annotations[SharedAnnotation] != "" {
		return true
	}
	marked := c.DeepCopy()
	if marked.Annotations == nil {
		marked.Annotations = map[string]string{}
	}
	marked.Annotations[SharedAnnotation] = "true"
	return r.Client.Patch(ctx, marked, client.MergeFromWithOptions(c, client.MergeFromWithOptimisticLock{})) == nil
}

// specDigest identifies a public client's metadata: its redirect URIs and
// scopes as sets, name, binding and auth method. "" for a confidential one.
func specDigest(spec mcpv1alpha1.OAuthClientSpec) string {
	if spec.TokenEndpointAuthMethod != mcpv1alpha1.TokenEndpointAuthNone {
		return ""
	}
	key := struct {
		RedirectURIs  []mcpv1alpha1.RedirectURI
		DefaultScopes []mcpv1alpha1.Scope
		Name, Handle  string
		Gateway       bool
	}{slices.Sorted(slices.Values(spec.RedirectURIs)), slices.Sorted(slices.Values(spec.DefaultScopes)), spec.ClientName, spec.Handle, spec.Gateway}
	b, _ := json.Marshal(key)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:20]) // a label value holds 63 characters
}

// unusedLabels are the labels of a new or repaired unused client.
func unusedLabels(spec mcpv1alpha1.OAuthClientSpec, digest string) map[string]string {
	l := map[string]string{LabelUnused: "true", LabelDigest: digest}
	if digest == "" {
		delete(l, LabelDigest)
	}
	if spec.Handle != "" {
		l[mcpv1alpha1.LabelHandle] = spec.Handle
	}
	return l
}

// mergeLabels replaces the registry's labels of an unused client.
func mergeLabels(old, labels map[string]string) map[string]string {
	out := maps.Clone(old)
	delete(out, LabelDigest)
	maps.Copy(out, labels)
	return out
}

// checkCaps refuses a registration beyond Limits.
func (r *Registry) checkCaps(ctx context.Context, unused []*mcpv1alpha1.OAuthClient, spec mcpv1alpha1.OAuthClientSpec) error {
	if limit := r.Limits.MaxUnused; limit > 0 && len(unused) >= limit {
		oldest := unused[0]
		for _, c := range unused {
			if c.CreationTimestamp.Before(&oldest.CreationTimestamp) {
				oldest = c
			}
		}
		wait := time.Minute
		if r.Limits.UnusedTTL > 0 {
			wait = max(oldest.CreationTimestamp.Add(r.Limits.UnusedTTL).Sub(r.now()), time.Second)
		}
		return &UnusedCapError{Max: limit, RetryAfter: wait}
	}
	if spec.Handle != "" {
		return r.checkHandle(ctx, spec.Handle, unused)
	}
	return nil
}

// checkHandle refuses one more dynamic client on a handle at
// Limits.MaxPerHandle. Clients this replica created a moment ago count too.
func (r *Registry) checkHandle(ctx context.Context, handle string, unused []*mcpv1alpha1.OAuthClient) error {
	if r.Limits.MaxPerHandle <= 0 {
		return nil
	}
	var l mcpv1alpha1.OAuthClientList
	if err := r.reader().List(ctx, &l, r.selecting(mcpv1alpha1.LabelHandle, handle), client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("failed to list the clients of handle %s: %w", handle, err)
	}
	n := 0
	listed := map[string]bool{}
	for i := range l.Items {
		if c := &l.Items[i]; c.Spec.Registration == mcpv1alpha1.RegistrationDynamic && c.DeletionTimestamp.IsZero() {
			listed[c.Name] = true
			n++
		}
	}
	for _, c := range unused {
		if !listed[c.Name] && c.Labels[mcpv1alpha1.LabelHandle] == handle {
			n++
		}
	}
	if n >= r.Limits.MaxPerHandle {
		return fmt.Errorf("%w: handle %s has %d dynamically registered clients, its limit; "+
			"an administrator deletes those no longer used (kubectl delete oauthclient -l %s=%s)",
			ErrHandleFull, handle, n, mcpv1alpha1.LabelHandle, handle)
	}
	return nil
}

// markUsed prepares a client's first approval on handle ("" when it has
// none): it is no longer unused, and a dynamic client is counted on the
// handle, within Limits.MaxPerHandle.
func (r *Registry) markUsed(ctx context.Context, c *mcpv1alpha1.OAuthClient, handle string) error {
	if c.Spec.Registration != mcpv1alpha1.RegistrationDynamic {
		return nil
	}
	if handle != "" && c.Labels[mcpv1alpha1.LabelHandle] != handle {
		if err := r.checkHandle(ctx, handle, nil); err != nil {
			return err
		}
	}
	labels := maps.Clone(c.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	delete(labels, LabelUnused)
	delete(labels, LabelDigest)
	if handle != "" {
		labels[mcpv1alpha1.LabelHandle] = handle
	}
	c.Labels = labels
	return nil
}

// Expire deletes the unused dynamic clients older than Limits.UnusedTTL and
// returns how many it deleted. Every replica may run it: a client is
// deleted only in the version read (a UID and resourceVersion
// precondition), so one approved meanwhile stays, and a client another
// replica deleted first is skipped. Their Secrets and grants go with them
// (owner references).
func (r *Registry) Expire(ctx context.Context) (int, error) {
	if r.Limits.UnusedTTL <= 0 {
		return 0, nil
	}
	var l mcpv1alpha1.OAuthClientList
	if err := r.reader().List(ctx, &l, r.selecting(LabelUnused, "true")); err != nil {
		return 0, fmt.Errorf("failed to list unused clients: %w", err)
	}
	// A sweep is no request: its entries share an id of their own.
	if audit.RequestID(ctx) == "" {
		ctx = audit.WithRequestID(ctx, audit.NewRequestID())
	}
	now, deleted := r.now(), 0
	for i := range l.Items {
		c := &l.Items[i]
		if c.Spec.Registration != mcpv1alpha1.RegistrationDynamic || !c.DeletionTimestamp.IsZero() || !r.expired(c, now) {
			continue
		}
		pre := client.Preconditions{UID: &c.UID, ResourceVersion: &c.ResourceVersion}
		err := r.Client.Delete(ctx, &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: c.Name}}, pre)
		switch {
		case err == nil:
			deleted++
			r.Audit.Client(ctx, audit.ClientRemoved, c, "unused past its time to live")
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		default:
			return deleted, fmt.Errorf("failed to delete unused client %s: %w", c.Name, err)
		}
	}
	return deleted, nil
}

// ExpireEvery runs Expire every interval until ctx ends, reporting each
// sweep that deleted something or failed.
func (r *Registry) ExpireEvery(ctx context.Context, interval time.Duration, report func(deleted int, err error)) {
	if r.Limits.UnusedTTL <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := r.Expire(ctx); n > 0 || err != nil {
				report(n, err)
			}
		}
	}
}
