package platform

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestRateLimitsAndTrustedProxies(t *testing.T) {
	base, err := os.ReadFile("../../config/platform/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	parse := func(extra string) (*Config, error) { return Parse(append(append([]byte{}, base...), extra...)) }
	c, err := parse("trustedProxies: [10.0.0.0/8, 'fd00::/8']\nrateLimits: {token: {requestsPerMinute: 120}, signIn: {requestsPerMinute: 0}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}; !reflect.DeepEqual(c.TrustedProxyPrefixes(), want) {
		t.Errorf("trusted proxies %v; want %v", c.TrustedProxyPrefixes(), want)
	}
	d := DefaultRateLimits()
	if got := *c.RateLimits.Token; got != (RateLimit{RequestsPerMinute: 120, Burst: 120}) {
		t.Errorf("token limit %+v; want the burst to default to the rate", got)
	}
	if got := *c.RateLimits.SignIn; got.RequestsPerMinute != 0 {
		t.Errorf("signIn %+v; want it lifted", got)
	}
	if *c.RateLimits.MCPPerGrant != *d.MCPPerGrant || *c.RateLimits.Registration != *d.Registration {
		t.Error("limits left out did not take their defaults")
	}
	for extra, want := range map[string]string{
		"trustedProxies: [10.0.0.1]\n":                             "trustedProxies[0]",
		"rateLimits: {mcpPerGrant: {requestsPerMinute: -1}}\n":     "rateLimits.mcpPerGrant.requestsPerMinute",
		"rateLimits: {token: {requestsPerMinute: 5, burst: -2}}\n": "rateLimits.token.burst",
		"rateLimits: {tokens: {requestsPerMinute: 5}}\n":           "unknown field",
	} {
		if _, err := parse(extra); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want an error naming %s", extra, err, want)
		}
	}
}
