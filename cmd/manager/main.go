// Command manager runs the mcp-handle-operator controllers.
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/10xdotin/mcp-handle-operator/controllers"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
)

// Leader election and events are the manager's own needs; each reconciler
// declares the RBAC of the kinds it touches.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// Leader election records its LeaderElection event on the Lease with the
// core events API (found running in a pod: it was refused).
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

func main() {
	var (
		configPath     string
		metricsAddr    string
		probeAddr      string
		leaderElection bool
		leaseNamespace string
		qps            float64
		burst          int
		concurrency    int
	)
	flag.StringVar(&configPath, "platform-config", "", "path of the platform configuration YAML (required)")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address the metrics endpoint binds to; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address the health and readiness probes bind to")
	flag.BoolVar(&leaderElection, "leader-elect", false, "elect a leader so that only one replica writes")
	flag.StringVar(&leaseNamespace, "leader-election-namespace", "", "namespace of the leader election Lease; default the operator's own, which only a pod has")
	flag.Float64Var(&qps, "kube-api-qps", 100, "requests per second to the apiserver the operator may make")
	flag.IntVar(&burst, "kube-api-burst", 200, "burst of requests to the apiserver above --kube-api-qps")
	flag.IntVar(&concurrency, "max-concurrent-reconciles", 8, "how many objects of one kind are reconciled at once")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	klog.SetLogger(ctrl.Log)
	log := ctrl.Log.WithName("setup")

	if configPath == "" {
		fmt.Fprintln(os.Stderr, "manager: --platform-config is required")
		os.Exit(2)
	}
	cfg, err := platform.Load(configPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "manager: %s: %v\n", configPath, err)
		os.Exit(2)
	}
	ctx := ctrl.SetupSignalHandler()
	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = float32(qps), burst
	mgr, err := controllers.NewManager(ctx, restConfig, cfg, ctrl.Options{
		Controller:              config.Controller{MaxConcurrentReconciles: concurrency},
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElection,
		LeaderElectionID:        "mcp-handle-operator.mcp.10x.in",
		LeaderElectionNamespace: leaseNamespace,
	})
	if err != nil {
		log.Error(err, "failed to set up the manager")
		os.Exit(1)
	}
	log.Info("starting the manager", "mcpDomain", cfg.MCPDomain, "gatewayHost", cfg.GatewayHost, "tlsMode", cfg.TLS.Mode)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped with an error")
		os.Exit(1)
	}
}
