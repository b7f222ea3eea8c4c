// Package fleet runs runtime replicas as processes (bin/runtime) on a real
// apiserver, as a cluster runs its pods: a round-robin balancer in front of
// them stands in for the Service, another in front of the apiserver lets a
// test stop the apiserver for them, and the example Links toolset
// (bin/links-toolset) is the handle's upstream. The reliability tests
// (test/reliability) and the load script (test/load) drive it with
// test/framework/loadgen clients.
package fleet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/runtime/toolsets"
	"github.com/10xdotin/mcp-handle-operator/runtime/web"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
	"github.com/10xdotin/mcp-handle-operator/test/framework/loadgen"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
	"github.com/10xdotin/mcp-handle-operator/test/framework/stack"
)

// The objects every fleet has.
const (
	// Handle is the handle the clients connect to; User is its member with
	// every scope the Links toolset needs.
	Handle   = "acme"
	User     = "alice@example.com"
	Password = "correct horse battery staple"
	// ClientID is a public OAuthClient of Handle with RedirectURI.
	ClientID    = "load-acme"
	RedirectURI = "https://chatgpt.com/connector/oauth/cb_load"
	// Toolset is the Links toolset's name; Tool is the read-only tool the
	// clients call.
	Toolset = "links"
	// SigningKeysSecret is the runtime's default --signing-keys-secret.
	SigningKeysSecret = "mcp-runtime-signing-keys"
)

// Tool is the runtime's name of Links' list_links.
var Tool = toolsets.Name(Toolset, "list_links")

// Scopes are what the clients ask for.
var Scopes = []mcpv1alpha1.Scope{mcpv1alpha1.ScopeMCPConnect, mcpv1alpha1.ScopeSkillsRead, mcpv1alpha1.ScopeLinksRead}

// Options configure a fleet.
type Options struct {
	// Env is the control plane; its admin client creates the objects.
	Env *controlplane.Env
	// BinDir holds runtime and links-toolset.
	BinDir string
	// Dir receives the kubeconfig, the platform configuration and the logs.
	Dir string
	// Replicas is the number of runtime replicas (at least 1).
	Replicas int
	// RuntimeArgs are added to every replica's command line.
	RuntimeArgs []string
	// RateLimits are the platform configuration's; nil means
	// stack.NoRateLimits: the fleet measures capacity.
	RateLimits *platform.RateLimits
	// PasswordCost is the bcrypt cost of the user's password hash
	// (bcrypt.DefaultCost when 0).
	PasswordCost int
}

// Replica is one runtime process, its listener and its metrics listener.
type Replica struct {
	Addr        string
	MetricsAddr string
	*proc.Process
}

// Fleet is a running fleet; Stop ends it.
type Fleet struct {
	Config     *platform.Config
	Kubeconfig string
	ConfigPath string
	// Service passes each connection to the next live replica: the address
	// every client (and the toolset, for the JWK Set) connects to.
	Service *stack.Balancer
	// APIServer is the replicas' way to the apiserver: Cut stops the
	// apiserver for them (connections reset, new ones refused), Restore
	// brings it back. The admin client goes to the apiserver directly.
	APIServer *stack.Balancer
	Replicas  []*Replica
	Links     *proc.Process
	LinksURL  string

	opts  Options
	stops []func()
}

// Start starts the fleet and waits until every replica is ready.
func Start(ctx context.Context, o Options) (_ *Fleet, err error) {
	f := &Fleet{opts: o}
	defer func() {
		if err != nil {
			f.Stop()
		}
	}()
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := f.startFronts(); err != nil {
		return nil, err
	}
	_, portText, err := net.SplitHostPort(f.Service.Addr())
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, err
	}
	f.ConfigPath = filepath.Join(o.Dir, "platform.yaml")
	cfg := stack.PlatformConfig(port, port)
	cfg.RateLimits = stack.NoRateLimits()
	if o.RateLimits != nil {
		cfg.RateLimits = *o.RateLimits
	}
	if f.Config, err = fixtures.WritePlatform(f.ConfigPath, cfg); err != nil {
		return nil, err
	}
	if err := f.writeKubeconfig(); err != nil {
		return nil, err
	}
	linksAddr, err := stack.FreeAddr("127.0.0.1")
	if err != nil {
		return nil, err
	}
	f.LinksURL = "http://" + linksAddr + "/mcp"
	if err := f.createObjects(ctx); err != nil {
		return nil, err
	}
	// The toolset verifies the runtime's upstream tokens with the JWK Set
	// the runtime serves on the gateway host (fetched on the first call).
	// It runs first: a replica lists its tools when it starts.
	jwks := "http://" + hostPort(f.Config.Issuer) + platform.JWKSPath
	links, err := proc.Start(filepath.Join(o.Dir, "links-toolset.log"), nil, filepath.Join(o.BinDir, "links-toolset"),
		"--listen="+linksAddr, "--issuer="+f.Config.Issuer, "--jwks-url="+jwks, "--audience="+f.LinksURL)
	if err != nil {
		return nil, err
	}
	f.Links = links
	f.onStop(func() { links.Stop(5 * time.Second) })
	if err := links.WaitOK(ctx, "http://"+linksAddr+"/healthz", 30*time.Second); err != nil {
		return nil, err
	}
	for i := range f.Replicas {
		if err := f.Restart(ctx, i); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// hostPort is the host and port of a URL: for the issuer, a loopback name
// the toolset can dial (localhost) and the Host the runtime expects.
func hostPort(rawURL string) string {
	u, _ := url.Parse(rawURL)
	return u.Host
}

func (f *Fleet) onStop(stop func()) { f.stops = append(f.stops, stop) }

// Stop stops everything the fleet started, the last started first.
func (f *Fleet) Stop() {
	for i := len(f.stops) - 1; i >= 0; i-- {
		f.stops[i]()
	}
	f.stops = nil
	for _, r := range f.Replicas {
		if r.Process != nil {
			r.Stop(5 * time.Second)
		}
	}
}

// startFronts picks the replicas' addresses and starts the Service and the
// apiserver front.
func (f *Fleet) startFronts() error {
	n := max(f.opts.Replicas, 1)
	addrs := make([]string, n)
	for i := range addrs {
		addr, err := stack.FreeAddr("127.0.0.1")
		if err != nil {
			return err
		}
		// Replicas share the host: each its own metrics port, fixed so a
		// load script can scrape each replica (test/load/ratelimits).
		metricsAddr, err := stack.FreeAddr("127.0.0.1")
		if err != nil {
			return err
		}
		addrs[i] = addr
		f.Replicas = append(f.Replicas, &Replica{Addr: addr, MetricsAddr: metricsAddr})
	}
	// The Service's address is also the issuer's port: clients reach
	// https://localhost:PORT in plain HTTP (loadgen.PlainTransport).
	svcAddr, err := stack.FreeAddr("127.0.0.1")
	if err != nil {
		return err
	}
	if f.Service, err = stack.StartBalancer(svcAddr, addrs); err != nil {
		return err
	}
	f.onStop(f.Service.Stop)
	apiserver, err := url.Parse(f.opts.Env.Config.Host)
	if err != nil {
		return err
	}
	frontAddr, err := stack.FreeAddr("127.0.0.1")
	if err != nil {
		return err
	}
	if f.APIServer, err = stack.StartBalancer(frontAddr, []string{apiserver.Host}); err != nil {
		return err
	}
	f.onStop(f.APIServer.Stop)
	return nil
}

// writeKubeconfig writes the admin kubeconfig with the apiserver front as
// the server (the apiserver's certificate is for 127.0.0.1, as the front's
// address is).
func (f *Fleet) writeKubeconfig() error {
	kc, err := f.opts.Env.Kubeconfig()
	if err != nil {
		return err
	}
	cfg, err := clientcmd.Load(kc)
	if err != nil {
		return err
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://" + f.APIServer.Addr()
	}
	f.Kubeconfig = filepath.Join(f.opts.Dir, "kubeconfig")
	return clientcmd.WriteToFile(*cfg, f.Kubeconfig)
}

// createObjects creates the namespace, the user, the handle, its client and
// the Links toolset (tolerating ones a previous fleet on the same control
// plane left).
func (f *Fleet) createObjects(ctx context.Context) error {
	cost := f.opts.PasswordCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(Password), cost)
	if err != nil {
		return err
	}
	ns := f.Config.Namespace
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		fixtures.UsersSecretIn(ns, stack.UsersSecret, web.StaticUser{Email: User, PasswordHash: string(hash)}),
		&mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: Toolset}, Spec: mcpv1alpha1.ToolsetSpec{URL: f.LinksURL,
			Scopes: &mcpv1alpha1.ToolsetScopes{Read: []mcpv1alpha1.Scope{mcpv1alpha1.ScopeLinksRead}, Write: []mcpv1alpha1.Scope{mcpv1alpha1.ScopeLinksWrite}}}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: Handle}, Spec: mcpv1alpha1.HandleSpec{
			Members:  []mcpv1alpha1.HandleMember{{User: User, Scopes: Scopes}},
			Toolsets: []mcpv1alpha1.ToolsetReference{{Name: Toolset}}}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: ClientID}, Spec: mcpv1alpha1.OAuthClientSpec{
			Handle: Handle, ClientName: "Load test", RedirectURIs: []mcpv1alpha1.RedirectURI{RedirectURI}}},
	}
	c := f.opts.Env.Client
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("failed to create %T %s: %w", o, o.GetName(), err)
		}
	}
	// An earlier fleet's toolset listened elsewhere.
	ts := &mcpv1alpha1.Toolset{ObjectMeta: metav1.ObjectMeta{Name: Toolset}}
	patch := fmt.Appendf(nil, `{"spec":{"url":%q}}`, f.LinksURL)
	if err := c.Patch(ctx, ts, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("failed to point the Toolset %s at %s: %w", Toolset, f.LinksURL, err)
	}
	return nil
}

// Restart starts replica i (again, on its address, after Kill) and waits
// until it is ready.
func (f *Fleet) Restart(ctx context.Context, i int) error {
	r := f.Replicas[i]
	p, err := proc.Start(filepath.Join(f.opts.Dir, fmt.Sprintf("runtime-%d.log", i+1)), []string{"KUBECONFIG=" + f.Kubeconfig},
		filepath.Join(f.opts.BinDir, "runtime"), append([]string{"--platform-config=" + f.ConfigPath, "--listen=" + r.Addr,
			"--metrics-listen=" + r.MetricsAddr}, f.opts.RuntimeArgs...)...)
	if err != nil {
		return err
	}
	r.Process = p
	return p.WaitOK(ctx, "http://"+r.Addr+"/readyz", 30*time.Second)
}

// Kill ends replica i with SIGKILL.
func (f *Fleet) Kill(i int) { f.Replicas[i].Kill() }

// Target is the handle's hosted URL as User through ClientID, calling Tool.
func (f *Fleet) Target() loadgen.Target {
	scopeNames := make([]string, len(Scopes))
	for i, s := range Scopes {
		scopeNames[i] = string(s)
	}
	return loadgen.Target{
		Issuer: f.Config.Issuer, Resource: f.Config.HostedURL(Handle), ClientID: ClientID, RedirectURI: RedirectURI,
		Scopes: strings.Join(scopeNames, " "), Email: User, Password: Password, Tool: Tool, Arguments: map[string]any{},
	}
}

// Transport sends the clients' https requests in plain HTTP to the Service.
func (f *Fleet) Transport(keepAlive bool) http.RoundTripper {
	return loadgen.PlainTransport(f.Service.Addr(), keepAlive)
}

// StartLocal is how a load script begins (test/load, test/load/ratelimits):
// it builds the runtime and the Links toolset into a temporary folder (o's
// BinDir; o.Dir defaults to its logs subfolder), starts a control plane (o's
// Env) and the fleet on it, saying each step to logf. stop ends them all and
// removes the folder.
func StartLocal(ctx context.Context, o Options, logf func(string)) (_ *Fleet, _ *controlplane.Env, _ func() error, err error) {
	dir, err := os.MkdirTemp("", "fleet-")
	if err != nil {
		return nil, nil, nil, err
	}
	var cp *controlplane.Env
	cleanup := func() error {
		var stopErr error
		if cp != nil {
			stopErr = cp.Stop()
		}
		_ = os.RemoveAll(dir)
		return stopErr
	}
	defer func() {
		if err != nil {
			_ = cleanup()
		}
	}()
	o.BinDir = dir
	if o.Dir == "" {
		o.Dir = filepath.Join(dir, "logs")
	}
	logf("building runtime and links-toolset")
	if err := controlplane.BuildCommands(dir, "./cmd/runtime", "./cmd/links-toolset"); err != nil {
		return nil, nil, nil, err
	}
	logf("starting etcd and kube-apiserver")
	if cp, err = controlplane.Start(); err != nil {
		return nil, nil, nil, err
	}
	o.Env = cp
	logf(fmt.Sprintf("starting %d runtime replicas and the Links toolset (logs in %s)", max(o.Replicas, 1), o.Dir))
	f, err := Start(ctx, o)
	if err != nil {
		return nil, nil, nil, err
	}
	return f, cp, func() error { f.Stop(); return cleanup() }, nil
}
