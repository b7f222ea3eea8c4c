// Command registrations measures what dynamic client registration leaves
// behind: it starts a control plane (with the garbage collector), two
// runtime replicas (bin/runtime) behind a balancer with the registration
// limits given, sends -n RFC 7591 registrations through it, and reports the
// answers, the OAuthClients and client Secrets left, and etcd's database
// database size (etcd's status) before, after the registrations and after
// the unused clients expired: as written, and after compaction and
// defragmentation (what the live objects take). The default mix is what public reports show: connectors
// re-registering identical metadata on every reconnect, and loops
// registering new metadata each time. `make bench-registrations` runs it;
// docs/performance.md records the results.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/oautherr"
	"github.com/10xdotin/mcp-handle-operator/runtime/registry"
	"github.com/10xdotin/mcp-handle-operator/test/framework/bench"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fleet"
)

type options struct {
	n, workers, connectors     int
	ttl                        time.Duration
	maxUnused, maxPerHandle    int
	binDir, output, logDir     string
	expiryTimeout, sampleEvery time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 10000, "registrations to send")
	flag.IntVar(&o.workers, "workers", 8, "concurrent registrations")
	flag.IntVar(&o.connectors, "connectors", 10, "connectors that re-register identical metadata (half of the registrations)")
	flag.DurationVar(&o.ttl, "unused-client-ttl", 2*time.Minute, "the runtime's --unused-client-ttl (0s: never expire)")
	flag.IntVar(&o.maxUnused, "max-unused-clients", registry.DefaultMaxUnused, "the runtime's --max-unused-clients (0: no cap)")
	flag.IntVar(&o.maxPerHandle, "max-clients-per-handle", registry.DefaultMaxPerHandle, "the runtime's --max-clients-per-handle (0: no cap)")
	flag.StringVar(&o.binDir, "bin", filepath.Join(controlplane.RepoRoot(), "bin"), "folder with runtime and links-toolset")
	flag.StringVar(&o.logDir, "log-dir", filepath.Join(os.TempDir(), "bench-registrations"), "the replicas' logs, kept after the run")
	flag.DurationVar(&o.expiryTimeout, "expiry-timeout", 5*time.Minute, "longest wait for the unused clients to expire after the registrations")
	flag.DurationVar(&o.sampleEvery, "sample", time.Second, "how often the OAuthClients are counted during the registrations")
	flag.StringVar(&o.output, "o", "text", "report format: text or markdown")
	flag.Parse()
	if o.n < 1 || o.workers < 1 || o.connectors < 1 || (o.output != "text" && o.output != "markdown") || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "registrations: bad flags; see -help")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	rows, err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "registrations:", err)
		os.Exit(1)
	}
	bench.PrintRows(os.Stdout, rows, o.output == "markdown")
}

func step(msg string) { fmt.Fprintln(os.Stderr, ">>", msg) }

func run(ctx context.Context, o options) (rows [][2]string, err error) {
	step("starting etcd, kube-apiserver and the garbage collector")
	cp, err := controlplane.Start()
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := cp.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("failed to stop the control plane: %w", stopErr))
		}
	}()
	stopGC, err := cp.StartGarbageCollector()
	if err != nil {
		return nil, err
	}
	defer stopGC()
	step(fmt.Sprintf("starting two runtime replicas (logs in %s)", o.logDir))
	// The fleet lifts the rate limits: every request comes from the
	// balancer's address, as behind a Gateway.
	f, err := fleet.Start(ctx, fleet.Options{Env: cp, BinDir: o.binDir, Dir: o.logDir, Replicas: 2, PasswordCost: 4, RuntimeArgs: []string{
		"--unused-client-ttl=" + o.ttl.String(),
		"--max-unused-clients=" + strconv.Itoa(o.maxUnused), "--max-clients-per-handle=" + strconv.Itoa(o.maxPerHandle)}})
	if err != nil {
		return nil, err
	}
	defer f.Stop()
	c, err := controlplane.UnlimitedClient(cp.Config)
	if err != nil {
		return nil, err
	}
	etcd := cp.EtcdURL()
	before, err := measure(ctx, c, etcd, f.Config.Namespace)
	if err != nil {
		return nil, err
	}

	step(fmt.Sprintf("sending %d registrations, %d at a time", o.n, o.workers))
	hc := &http.Client{Transport: f.Transport(true), Timeout: 30 * time.Second}
	var answers sync.Map // answer -> *atomic.Int64
	var peak atomic.Int64
	sampling, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sample(sampling, c, o.sampleEvery, &peak)
	}()
	start := time.Now()
	err = bench.ForAll(ctx, o.workers, o.n, func(ctx context.Context, i int) error {
		a, err := register(ctx, hc, f.Config.Issuer, metadataOf(o, i, f.Config.HostedURL(fleet.Handle)))
		if err != nil {
			return err
		}
		n, _ := answers.LoadOrStore(a, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		return nil
	})
	took := time.Since(start)
	stopSampling()
	<-sampled
	if err != nil {
		return nil, err
	}
	after, err := measure(ctx, c, etcd, f.Config.Namespace)
	if err != nil {
		return nil, err
	}
	peak.Store(max(peak.Load(), int64(after.clients)))

	expired := "not measured (-unused-client-ttl 0s)"
	var swept snapshot
	if o.ttl > 0 {
		step("waiting for the unused clients to expire")
		start := time.Now()
		for {
			unused, secrets, err := count(ctx, c, f.Config.Namespace)
			if err != nil {
				return nil, err
			}
			if unused == 0 && secrets == 0 {
				break
			}
			if time.Since(start) > o.expiryTimeout {
				return nil, fmt.Errorf("%d unused clients and %d client Secrets left %s after the registrations", unused, secrets, o.expiryTimeout)
			}
			time.Sleep(time.Second)
		}
		waited := time.Since(start)
		if swept, err = measure(ctx, c, etcd, f.Config.Namespace); err != nil {
			return nil, err
		}
		expired = fmt.Sprintf("%s after the last registration (TTL %s)", waited.Round(time.Second), o.ttl)
	}

	rows = append(rows,
		[2]string{"Registrations", fmt.Sprintf("%d in %s (%.0f/s), %d concurrent, two replicas", o.n, took.Round(time.Millisecond), float64(o.n)/took.Seconds(), o.workers)},
		[2]string{"Limits", fmt.Sprintf("--unused-client-ttl=%s --max-unused-clients=%d --max-clients-per-handle=%d", o.ttl, o.maxUnused, o.maxPerHandle)},
		[2]string{"Answers", answerSummary(&answers)},
		[2]string{"OAuthClients before", before.String()},
		[2]string{"OAuthClients after the registrations", after.String() + fmt.Sprintf(" (most seen during the run: %d)", peak.Load())},
	)
	if o.ttl > 0 {
		rows = append(rows, [2]string{"OAuthClients after expiry", swept.String()}, [2]string{"Expired", expired})
	}
	return rows, nil
}

// metadataOf is registration i: half re-register one of o.connectors
// identical public clients (a connector reconnecting), a quarter register
// new public clients (a loop that changes its name each time), an eighth
// new public clients for the handle (resource), an eighth new confidential
// clients (each with a Secret).
func metadataOf(o options, i int, handleURL string) map[string]any {
	md := map[string]any{"token_endpoint_auth_method": "none"}
	switch i % 8 {
	case 0, 1, 2, 3:
		k := i % o.connectors
		md["client_name"] = fmt.Sprintf("Reconnecting connector %d", k)
		md["redirect_uris"] = []string{fmt.Sprintf("https://chatgpt.com/connector/oauth/cb_%d", k)}
		return md
	case 6:
		md["resource"] = handleURL
	case 7:
		delete(md, "token_endpoint_auth_method") // RFC 7591's default: client_secret_basic
	}
	md["client_name"] = fmt.Sprintf("Looping connector %d", i)
	md["redirect_uris"] = []string{fmt.Sprintf("https://chatgpt.com/connector/oauth/loop_%d", i)}
	return md
}

// register sends one registration and names its answer: "created", "same
// client" (an identical unused one: no registration access token), or the
// status and OAuth error.
func register(ctx context.Context, hc *http.Client, issuer string, md map[string]any) (string, error) {
	body, _ := json.Marshal(md)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/oauth/register", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		Error string `json:"error"`
		Token string `json:"registration_access_token"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	switch {
	case resp.StatusCode == http.StatusCreated && out.Token != "":
		return "201 created", nil
	case resp.StatusCode == http.StatusCreated:
		return "201 an identical unused client", nil
	case resp.StatusCode >= 500 && out.Error != oautherr.TemporarilyUnavailable:
		return "", fmt.Errorf("registration answered %d: %s", resp.StatusCode, raw)
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, out.Error), nil
}

func answerSummary(answers *sync.Map) string {
	var parts []string
	answers.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// snapshot is what registrations left.
type snapshot struct {
	clients, unused, secrets int
	// written is etcd's database size as the writes left it (history
	// included, until kube-apiserver compacts it every 5 minutes), compacted
	// its size after compaction and defragmentation.
	written, compacted int64
}

func (s snapshot) String() string {
	return fmt.Sprintf("%d OAuthClients (%d unused), %d client Secrets; etcd %s as written, %s compacted",
		s.clients, s.unused, s.secrets, mib(s.written), mib(s.compacted))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func measure(ctx context.Context, c client.Client, etcd, namespace string) (snapshot, error) {
	var s snapshot
	var clients mcpv1alpha1.OAuthClientList
	if err := c.List(ctx, &clients); err != nil {
		return s, err
	}
	s.clients = len(clients.Items)
	var err error
	if s.unused, s.secrets, err = count(ctx, c, namespace); err != nil {
		return s, err
	}
	st, err := etcdStatus(ctx, etcd)
	if err != nil {
		return s, err
	}
	s.written = st.DBSize
	if err := compact(ctx, etcd); err != nil {
		return s, err
	}
	if st, err = etcdStatus(ctx, etcd); err != nil {
		return s, err
	}
	s.compacted = st.DBSize
	return s, nil
}

// count returns the unused clients and the client Secrets.
func count(ctx context.Context, c client.Client, namespace string) (unused, secrets int, err error) {
	var clients mcpv1alpha1.OAuthClientList
	if err := c.List(ctx, &clients, client.MatchingLabels{registry.LabelUnused: "true"}); err != nil {
		return 0, 0, err
	}
	var l corev1.SecretList
	if err := c.List(ctx, &l, client.InNamespace(namespace), client.HasLabels{mcpv1alpha1.LabelOAuthClient}); err != nil {
		return 0, 0, err
	}
	return len(clients.Items), len(l.Items), nil
}

func sample(ctx context.Context, c client.Client, every time.Duration, peak *atomic.Int64) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			var l mcpv1alpha1.OAuthClientList
			if c.List(ctx, &l) == nil && int64(len(l.Items)) > peak.Load() {
				peak.Store(int64(len(l.Items)))
			}
		}
	}
}

// status is etcd's maintenance status through its JSON gateway (int64s
// are JSON strings there).
type status struct {
	Header struct {
		Revision int64 `json:"revision,string"`
	} `json:"header"`
	DBSize int64 `json:"dbSize,string"`
}

func etcdStatus(ctx context.Context, etcd string) (status, error) {
	var st status
	err := etcdCall(ctx, etcd, "/v3/maintenance/status", map[string]any{}, &st)
	return st, err
}

// compact compacts etcd to its current revision and defragments it, as
// kube-apiserver (every 5 minutes) and an operator's defragmentation would,
// so the size shows what the deleted objects gave back.
func compact(ctx context.Context, etcd string) error {
	st, err := etcdStatus(ctx, etcd)
	if err != nil {
		return err
	}
	if err := etcdCall(ctx, etcd, "/v3/kv/compaction", map[string]any{"revision": strconv.FormatInt(st.Header.Revision, 10), "physical": true}, nil); err != nil &&
		!strings.Contains(err.Error(), "compacted") {
		return err
	}
	return etcdCall(ctx, etcd, "/v3/maintenance/defragment", map[string]any{}, nil)
}

func etcdCall(ctx context.Context, etcd, path string, in, out any) error {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, etcd+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: %d %s", path, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}
