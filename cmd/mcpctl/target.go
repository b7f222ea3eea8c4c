package main

import (
	"errors"
	"flag"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/10xdotin/mcp-handle-operator/internal/connect"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// targetFlags name the connector's MCP URL and the environment it lives in;
// setup-chatgpt-mcp-oauth and doctor share them.
type targetFlags struct {
	handle, serverURL, baseDomain, expectedIssuer string
	gateway, compat                               bool
	output, caFile                                string
	timeout                                       time.Duration
	// set holds the flags given on the command line.
	set map[string]bool
}

// register adds the target flags to fs.
func (f *targetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.handle, "handle", "", "the handle of a per-handle connector")
	fs.BoolVar(&f.gateway, "gateway", false, "the shared app URL (one connector for every handle)")
	fs.StringVar(&f.baseDomain, "base-domain", defaultBaseDomain, "the environment's base domain, optionally with :port")
	fs.StringVar(&f.serverURL, "server-url", "", "the connector's MCP URL itself, instead of deriving it from --base-domain")
	fs.BoolVar(&f.compat, "compat", false, "use the compatibility URL https://ai.{base-domain}/mcp/{handle}/mcp (with --handle)")
	fs.StringVar(&f.expectedIssuer, "expected-issuer", "", "the authorization server discovery must advertise (default: the environment's issuer)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM certificates to trust besides the system's (the local stack's .local/tls.crt)")
	fs.DurationVar(&f.timeout, "timeout", connect.DefaultTimeout, "timeout of each request")
}

// parse parses args into fs and records which flags were given. It returns
// false with the exit code when the command should stop (help or an error,
// which fs has printed).
func (f *targetFlags) parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return 0, true
}

// target checks the target flags and works out the MCP URL, its binding
// (required when bindingRequired) and the authorization server it should
// advertise ("" when neither --expected-issuer nor an environment says).
func (f *targetFlags) target(bindingRequired bool) (*target, error) {
	if f.handle != "" && f.gateway {
		return nil, usagef("--handle and --gateway are exclusive: a connector is for one handle or for the shared app URL")
	}
	if f.handle != "" {
		if msgs := validation.IsDNS1123Label(f.handle); len(msgs) > 0 {
			return nil, usagef("--handle %q is not a handle name: %s", f.handle, strings.Join(msgs, "; "))
		}
	}
	if f.compat && f.handle == "" {
		return nil, usagef("--compat needs --handle: the compatibility URL is https://ai.{base-domain}/mcp/{handle}/mcp")
	}
	if f.timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	t := &target{}
	if f.serverURL != "" {
		if err := f.serverTarget(t, bindingRequired); err != nil {
			return nil, err
		}
	} else {
		if f.handle == "" && !f.gateway {
			return nil, usagef("one of --handle HANDLE, --gateway or --server-url URL is required")
		}
		env, err := newEnvironment(f.baseDomain)
		if err != nil {
			return nil, usagef("%v", err)
		}
		t.env, t.hasEnv = env, true
		t.handle, t.gateway, t.compat = f.handle, f.gateway, f.compat
		switch {
		case f.gateway:
			t.url = env.gatewayURL()
		case f.compat:
			t.url = env.compatibilityURL(f.handle)
		default:
			t.url = env.hostedURL(f.handle)
		}
	}
	switch {
	case f.expectedIssuer != "":
		u, err := url.Parse(f.expectedIssuer)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, usagef("--expected-issuer %q must be an https URL without query or fragment", f.expectedIssuer)
		}
		t.issuer = f.expectedIssuer
		if u.Path == "/" {
			t.issuer = strings.TrimSuffix(t.issuer, "/")
		}
	case t.hasEnv:
		t.issuer = t.env.issuer()
	}
	return t, nil
}

// serverTarget takes the MCP URL from --server-url and its binding from
// --handle/--gateway or from the URL's shape.
func (f *targetFlags) serverTarget(t *target, bindingRequired bool) error {
	if f.compat {
		return usagef("--compat derives the URL from --base-domain; with --server-url give the compatibility URL itself")
	}
	u, err := url.Parse(f.serverURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return usagef("--server-url %q must be an absolute https URL without user, query or fragment", f.serverURL)
	}
	t.url = f.serverURL
	if f.set["base-domain"] {
		if t.env, err = newEnvironment(f.baseDomain); err != nil {
			return usagef("%v", err)
		}
		t.hasEnv = true
	} else {
		t.env, t.hasEnv = environmentOf(u)
	}
	// The binding the URL's shape implies.
	shapeHandle, shapeGateway, shapeKnown := "", false, false
	if rest, ok := strings.CutPrefix(u.Path, platform.MCPPath+"/"); ok {
		if h, ok := strings.CutSuffix(rest, platform.MCPPath); ok && h != "" && !strings.Contains(h, "/") {
			shapeHandle, shapeKnown, t.compat = h, true, true
		}
	} else if u.Path == platform.MCPPath && t.hasEnv {
		if h, ok := t.env.handleOfHost(u.Host); ok {
			shapeHandle, shapeKnown = h, true
		} else if strings.EqualFold(u.Host, t.env.gateway) {
			shapeGateway, shapeKnown = true, true
		}
	}
	switch {
	case f.handle != "":
		if shapeKnown && shapeHandle != f.handle {
			return usagef("--handle %s does not match --server-url %s", f.handle, f.serverURL)
		}
		t.handle = f.handle
	case f.gateway:
		if shapeKnown && !shapeGateway {
			return usagef("--gateway does not match --server-url %s, which is a handle's URL", f.serverURL)
		}
		t.gateway = true
	case shapeKnown:
		t.handle, t.gateway = shapeHandle, shapeGateway
	case bindingRequired:
		return usagef("cannot tell which handle %s serves: pass --handle HANDLE or --gateway", f.serverURL)
	}
	return nil
}
