// Package ratelimit holds the runtime's token buckets, keyed by grant,
// handle or client address, and finds a request's client address behind
// trusted proxies. Buckets live in each replica's memory: a fleet of N
// replicas behind a balancer admits up to N times a limit
// (docs/reliability.md#rate-limits).
package ratelimit

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// Rate is a sustained number of requests per minute and the burst above
// it. A zero PerMinute means no limit.
type Rate struct {
	PerMinute int
	Burst     int
}

// Of converts a platform limit; nil (a configuration not made by
// platform.Parse) is no limit.
func Of(l *platform.RateLimit) Rate {
	if l == nil {
		return Rate{}
	}
	return Rate{PerMinute: l.RequestsPerMinute, Burst: l.Burst}
}

// Seconds is a Retry-After value: the wait in whole seconds, rounded up,
// at least 1.
func Seconds(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}

// Unlimited reports whether r admits everything.
func (r Rate) Unlimited() bool { return r.PerMinute <= 0 }

func (r Rate) limit() rate.Limit { return rate.Limit(float64(r.PerMinute) / 60) }

func (r Rate) burst() int { return max(r.Burst, 1) }

// maxKeys bounds the buckets kept when a sweep finds none refilled (a
// flood of distinct keys).
const maxKeys = 100_000

// Keyed is one token bucket per key, all of the same default rate.
type Keyed struct {
	// Rate is the default rate of every key.
	Rate Rate
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Max bounds the buckets kept; 0 means maxKeys.
	Max int

	mu        sync.Mutex
	buckets   map[string]*bucket
	nextSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	rate Rate
}

// Allow takes one token from key's bucket at the default rate; see AllowAt.
func (k *Keyed) Allow(key string) (bool, time.Duration) { return k.AllowAt(key, k.Rate) }

// AllowAt takes one token from key's bucket, which fills at r (a per-Handle
// override; a bucket follows its key's rate when that changes). When the
// bucket is empty it answers false and how long until a token is there,
// for Retry-After.
func (k *Keyed) AllowAt(key string, r Rate) (bool, time.Duration) {
	if r.Unlimited() {
		return true, 0
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sweep(now)
	b := k.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(r.limit(), r.burst()), rate: r}
		k.buckets[key] = b
	} else if b.rate != r {
		b.lim.SetLimitAt(now, r.limit())
		b.lim.SetBurstAt(now, r.burst())
		b.rate = r
	}
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	return false, time.Duration(math.Ceil(missing / float64(b.lim.Limit()) * float64(time.Second)))
}

// Len is the number of buckets kept.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

func (k *Keyed) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// sweep drops buckets that have refilled: a full bucket is the same as no
// bucket, so memory follows the keys active within one refill time. It
// runs at most once a second, and at once when the map is at its bound.
func (k *Keyed) sweep(now time.Time) {
	if k.buckets == nil {
		k.buckets = map[string]*bucket{}
	}
	limit := k.Max
	if limit <= 0 {
		limit = maxKeys
	}
	if now.Before(k.nextSweep) && len(k.buckets) < limit {
		return
	}
	k.nextSweep = now.Add(time.Second)
	for key, b := range k.buckets {
		if b.lim.TokensAt(now) >= float64(b.rate.burst()) {
			delete(k.buckets, key)
		}
	}
	// Still at the bound: every key is draining its bucket. Forget a tenth
	// of them, in map order (random), so a flood of new keys costs O(1) a
	// request; a forgotten key gets a fresh burst, the price of the bound.
	if len(k.buckets) >= limit {
		drop := max(limit/10, 1)
		for key := range k.buckets {
			if drop == 0 {
				break
			}
			delete(k.buckets, key)
			drop--
		}
	}
}
