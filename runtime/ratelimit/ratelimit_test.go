package ratelimit

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestKeyedRefusesThenRecovers(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	k := &Keyed{Rate: Rate{PerMinute: 30, Burst: 2}, Now: c.now}
	for i := range 2 {
		if ok, _ := k.Allow("a"); !ok {
			t.Fatalf("request %d refused within the burst", i+1)
		}
	}
	ok, wait := k.Allow("a")
	if ok || wait != 2*time.Second {
		t.Fatalf("third request: allowed %v, wait %v; want refused for 2s (30 a minute)", ok, wait)
	}
	if ok, _ := k.Allow("b"); !ok {
		t.Fatal("another key shares the bucket")
	}
	c.t = c.t.Add(wait)
	if ok, _ := k.Allow("a"); !ok {
		t.Fatal("refused after Retry-After")
	}
	if ok, _ := k.Allow("a"); ok {
		t.Fatal("one refill gave two tokens")
	}
}

func TestKeyedFollowsTheKeysRate(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	k := &Keyed{Rate: Rate{PerMinute: 60, Burst: 1}, Now: c.now}
	wide := Rate{PerMinute: 60, Burst: 3}
	for i := range 3 {
		if ok, _ := k.AllowAt("h", wide); !ok {
			t.Fatalf("request %d refused within the override's burst", i+1)
		}
	}
	if ok, _ := k.AllowAt("h", wide); ok {
		t.Fatal("admitted beyond the override's burst")
	}
	for range 100 {
		if ok, _ := k.AllowAt("h", Rate{}); !ok {
			t.Fatal("a zero rate limited")
		}
	}
}

func TestKeyedForgetsRefilledAndBoundsKeys(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	k := &Keyed{Rate: Rate{PerMinute: 60, Burst: 5}, Now: c.now, Max: 100}
	for i := range 1000 {
		k.Allow(fmt.Sprint(i))
		if n := k.Len(); n > 100 {
			t.Fatalf("%d buckets kept; bound 100", n)
		}
	}
	// One token a second and a burst of 5: 5 s later every bucket is full.
	c.t = c.t.Add(5 * time.Second)
	k.Allow("new")
	if n := k.Len(); n != 1 {
		t.Fatalf("%d buckets after they refilled; want only the new one", n)
	}
}

func TestClientAddress(t *testing.T) {
	proxies := ClientAddress{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"direct client's header is ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"behind the gateway", "10.1.2.3:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"gateway without the header", "10.1.2.3:80", nil, "10.1.2.3"},
		{"spoofed hops left of the client", "10.1.2.3:80", []string{"1.1.1.1, 2.2.2.2, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted proxies", "10.1.2.3:80", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"header split over lines", "10.1.2.3:80", []string{"6.6.6.6", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"every hop trusted", "10.1.2.3:80", []string{"10.7.7.7, 10.8.8.8"}, "10.7.7.7"},
		{"hop with a port", "10.1.2.3:80", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"garbage hop stops the walk", "10.1.2.3:80", []string{"198.51.100.1, unknown, 10.9.9.9"}, "10.9.9.9"},
		{"IPv6 client keyed by its /64", "10.1.2.3:80", []string{"[2001:db8:1:2:3:4:5:6]:443"}, "2001:db8:1:2::/64"},
		{"IPv6 direct", "[2001:db8::1]:5000", nil, "2001:db8::/64"},
		{"IPv4-mapped trusted proxy", "[::ffff:10.1.2.3]:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv6 trusted proxy", "[fd00::5]:80", []string{"198.51.100.1"}, "198.51.100.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := proxies.Of(r); got != tc.want {
				t.Errorf("client %q; want %q", got, tc.want)
			}
		})
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr, r.Header["X-Forwarded-For"] = "10.1.2.3:80", []string{"198.51.100.1"}
	if got := (ClientAddress{}).Of(r); got != "10.1.2.3" {
		t.Errorf("without trusted proxies the client is %q; want the connecting address", got)
	}
}
