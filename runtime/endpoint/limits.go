package endpoint

import (
	"fmt"
	"net/http"
	"time"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/principal"
	"github.com/10xdotin/mcp-handle-operator/runtime/ratelimit"
)

// limits are the MCP endpoint's buckets, per grant and per handle, at the
// platform's rates unless the Handle overrides them.
type limits struct {
	perGrant, perHandle ratelimit.Keyed
}

func newLimits(c *platform.Config, now func() time.Time) *limits {
	return &limits{
		perGrant:  ratelimit.Keyed{Rate: ratelimit.Of(c.RateLimits.MCPPerGrant), Now: now},
		perHandle: ratelimit.Keyed{Rate: ratelimit.Of(c.RateLimits.MCPPerHandle), Now: now},
	}
}

// override applies a Handle's rate over the platform's.
func override(def ratelimit.Rate, r *mcpv1alpha1.RequestRate) ratelimit.Rate {
	if r == nil || r.RequestsPerMinute == nil {
		return def
	}
	out := ratelimit.Rate{PerMinute: int(*r.RequestsPerMinute), Burst: int(r.Burst)}
	if out.Burst == 0 {
		out.Burst = out.PerMinute
	}
	return out
}

// allow takes a token from the grant's bucket, then from the handle's; an
// empty one is a 429 with Retry-After.
func (l *limits) allow(p *principal.Principal) *problem {
	grant, handle := l.perGrant.Rate, l.perHandle.Rate
	if o := p.Handle.Spec.RateLimit; o != nil {
		grant, handle = override(grant, o.PerGrant), override(handle, o.PerHandle)
	}
	if ok, wait := l.perGrant.AllowAt(p.Token.Grant, grant); !ok {
		return rateLimited(wait, fmt.Sprintf("this connection made more than %d requests a minute", grant.PerMinute))
	}
	if ok, wait := l.perHandle.AllowAt(p.Handle.Name, handle); !ok {
		return rateLimited(wait, fmt.Sprintf("the handle %s received more than %d requests a minute", p.Handle.Name, handle.PerMinute))
	}
	return nil
}

func rateLimited(wait time.Duration, why string) *problem {
	return &problem{status: http.StatusTooManyRequests, code: oautherr.RateLimited, retryAfter: wait,
		description: why + "; retry after " + ratelimit.Seconds(wait) + " s"}
}
