// Package controlplane starts a real control plane (etcd and kube-apiserver
// built by hack/build-controlplane.sh) with the project's CRDs plus Gateway
// API's and cert-manager's. Tests use it wherever the apiserver's behaviour
// matters (validation, defaulting, server-side apply, conflicts, watches), and
// the local stack (make run) uses it too.
package controlplane

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
)

// ServiceClusterIPRange is the Service range of the control plane: inside
// loopback, so a Service with a fixed clusterIP can reach a process on this
// machine (the apiserver refuses loopback EndpointSlice addresses).
const ServiceClusterIPRange = "127.0.100.0/24"

// Env is a running control plane and a client for it.
type Env struct {
	// Config reaches the apiserver as cluster admin.
	Config *rest.Config
	// Client is a controller-runtime client with the project's scheme.
	Client client.Client

	env *envtest.Environment
}

// RepoRoot returns the repository's top folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Option changes the control plane Start starts.
type Option func(*options)

type options struct{ auditLog string }

// WithWriteAuditLog makes kube-apiserver record the metadata of every write
// request (user, verb, object, response code) in path, one JSON audit event
// a line, so a test can tell which client wrote what. The policy file goes
// next to it.
func WithWriteAuditLog(path string) Option {
	return func(o *options) { o.auditLog = path }
}

// writeAuditPolicy logs writes at the Metadata level once answered, and
// nothing else: reads and watches would swamp the log.
const writeAuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
`

// Start starts etcd and kube-apiserver and installs the CRDs. The binaries
// come from KUBEBUILDER_ASSETS, or from hack/build-controlplane.sh (which
// builds them on first use) when it is unset.
func Start(opts ...Option) (*Env, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	assets, err := Binaries()
	if err != nil {
		return nil, err
	}
	crdDirs, err := CRDDirectories()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crdDirs,
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme.New(),
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Set("service-cluster-ip-range", ServiceClusterIPRange)
	if o.auditLog != "" {
		policy := filepath.Join(filepath.Dir(o.auditLog), "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(writeAuditPolicy), 0o600); err != nil {
			return nil, fmt.Errorf("failed to write the audit policy: %w", err)
		}
		args.Set("audit-policy-file", policy).Set("audit-log-path", o.auditLog)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("failed to start the control plane from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("failed to create a client: %w", err)
	}
	return &Env{Config: cfg, Client: c, env: env}, nil
}

// Stop stops the control plane and removes its data.
func (e *Env) Stop() error { return e.env.Stop() }

// Kubeconfig returns a kubeconfig for a cluster-admin user.
func (e *Env) Kubeconfig() ([]byte, error) { return e.UserKubeconfig("local-admin") }

// UserKubeconfig returns a kubeconfig for a cluster-admin user called name
// (a client certificate), so that the apiserver can tell this client's
// requests from those of clients with other names.
func (e *Env) UserKubeconfig(name string) ([]byte, error) {
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to add the admin user %s: %w", name, err)
	}
	return user.KubeConfig()
}

// UnlimitedClient returns an admin client whose own rate limit is far above
// what the apiserver can take, so that a measurement or a wait is limited by
// the apiserver and not by the client.
func UnlimitedClient(admin *rest.Config) (client.Client, error) {
	cfg := rest.CopyConfig(admin)
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("failed to create a client: %w", err)
	}
	return c, nil
}

// WriteKubeconfig writes the kubeconfig of the cluster-admin user called
// name (UserKubeconfig) to path, for the processes a test starts.
func (e *Env) WriteKubeconfig(path, name string) error {
	kc, err := e.UserKubeconfig(name)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return fmt.Errorf("failed to write the kubeconfig of %s: %w", name, err)
	}
	return nil
}

// EtcdURL is etcd's client URL (plain HTTP on loopback): its /metrics and
// its JSON gateway (/v3/maintenance/status) tell a measurement etcd's size.
func (e *Env) EtcdURL() string { return e.env.ControlPlane.Etcd.URL.String() }

// StartGarbageCollector runs kube-controller-manager with only its
// garbage-collector and namespace controllers, so objects owned by a deleted
// object are deleted as in a real cluster. The returned function stops it.
func (e *Env) StartGarbageCollector() (stop func(), err error) {
	dir, err := os.MkdirTemp("", "kcm-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := e.WriteKubeconfig(path, "local-admin"); err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(e.env.BinaryAssetsDirectory, "kube-controller-manager"),
		"--kubeconfig="+path,
		"--controllers=garbagecollector,namespace",
		"--leader-elect=false",
		"--secure-port=0",
		"--v=0",
	)
	log, err := os.Create(filepath.Join(dir, "kube-controller-manager.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start kube-controller-manager: %w", err)
	}
	return func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = log.Close()
		_ = os.RemoveAll(dir)
	}, nil
}

// Binaries returns the folder holding etcd, kube-apiserver,
// kube-controller-manager and kubectl.
func Binaries() (string, error) { return Tool("KUBEBUILDER_ASSETS", "build-controlplane.sh") }

// Tool returns the path of a tool the project's scripts build or install:
// $env when set (make passes it), otherwise what hack/<script> prints, which
// builds or installs the tool on first use.
func Tool(env, script string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", script))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/%s failed: %w", script, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// CRDDirectories returns the folders of every CRD the control plane installs:
// ours, Gateway API's standard channel and cert-manager's, the last two from
// the module versions in go.mod.
func CRDDirectories() ([]string, error) {
	root := RepoRoot()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api", "github.com/cert-manager/cert-manager")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("failed to locate the Gateway API and cert-manager modules: %w", err)
	}
	dirs := strings.Fields(string(out))
	if len(dirs) != 2 {
		return nil, fmt.Errorf("go list returned %q, want two module folders", out)
	}
	return []string{
		filepath.Join(root, "config", "crd", "bases"),
		filepath.Join(dirs[0], "config", "crd", "standard"),
		filepath.Join(dirs[1], "deploy", "crds"),
	}, nil
}

// ApplyFile server-side applies every object of a multi-document YAML file
// and returns them.
func ApplyFile(ctx context.Context, c client.Client, path, fieldOwner string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var applied []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return applied, nil
			}
			return applied, fmt.Errorf("failed to decode %s: %w", path, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			return applied, fmt.Errorf("failed to apply %s %s from %s: %w", obj.GetKind(), obj.GetName(), filepath.Base(path), err)
		}
		applied = append(applied, obj)
	}
}

// SampleFiles returns the manifests of config/samples, in apply order.
func SampleFiles() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(RepoRoot(), "config", "samples", "mcp_*.yaml"))
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no samples in config/samples")
	}
	return files, err
}

// RunSuite is a package's TestMain body: it starts a control plane into
// *env, runs setup (if any) and the tests, stops the control plane and
// returns the exit code. Under -short it starts nothing and runs none of the
// package's tests: `go test -short ./...` is the tier without a control
// plane.
func RunSuite(m *testing.M, env **Env, setup ...func(*Env) error) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("skipped under -short: this package's tests run on a control plane")
		return 0
	}
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "failed to stop the control plane:", err)
		}
	}()
	for _, s := range setup {
		if err := s(e); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	*env = e
	return m.Run()
}

// BuildCommands builds the repository's commands (for example
// "./cmd/runtime") into dir, for tests that run them as processes.
func BuildCommands(dir string, pkgs ...string) error {
	cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}
