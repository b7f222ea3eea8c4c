package operator_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/controllers"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/test/framework/controlplane"
	"github.com/10xdotin/mcp-handle-operator/test/framework/proc"
	"github.com/10xdotin/mcp-handle-operator/test/framework/testoperator"
)

// TestKilledMidwayConverges kills the operator with SIGKILL while it
// reconciles 1,000 handles. While it is down handles are deleted, recreated
// under the same name (a new UID) and added, and some of its routes and
// certificates are edited or deleted by hand. Restarted, it must converge on
// exactly what the live handles need: no object missing, stale, duplicated
// or left without a live owner.
func TestKilledMidwayConverges(t *testing.T) {
	const (
		total = 1000
		// killAt is how many handles have converged when the operator is
		// killed: the rest are queued or half written.
		killAt = 400
		// Every deleteEvery-th handle is deleted while the operator is down
		// (50); the first recreated of them come back under the same name.
		deleteEvery, recreated, added = 20, 10, 40
		// Hand faults on converged handles: a hosted route's backend port
		// changed or a hostname added, compatibility routes and certificates
		// deleted.
		edited, appended, routesDeleted, certsDeleted = 5, 3, 5, 3
	)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	// The audit log gives the operator's writes before the kill and after
	// the restart, for the figures.
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	cl := startCluster(ctx, t, controlplane.WithWriteAuditLog(auditLog))
	// The garbage collector deletes what deleted handles owned, as in a
	// cluster.
	stopGC, err := cl.env.StartGarbageCollector()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopGC)
	ns := cl.cfg.Namespace
	kubeconfig := cl.kubeconfig(t, "operator")

	if _, err := testoperator.CreateAll(ctx, cl.c, 16, total, func(i int) client.Object { return newHandle(i + 1) }); err != nil {
		t.Fatal(err)
	}
	// The operator's own client limit (100 requests/s) would set the pace on
	// an idle machine; this test is about where it ends up, not how fast.
	unlimited := []string{"--kube-api-qps=1000", "--kube-api-burst=2000"}
	first := cl.startOperator(t, "operator-1", kubeconfig, unlimited...)
	untilKill := waitFor(ctx, t, 2*time.Minute, []*proc.Process{first}, converged(cl, killAt, total))
	first.Kill()
	killed := time.Now()
	done := convergedHandles(ctx, t, cl.c)
	t.Logf("SIGKILL %.1fs after the start: %d of %d handles converged; %s", untilKill.Seconds(), len(done), total, census(ctx, t, cl.c, ns))
	if len(done) == total {
		t.Fatal("the operator had finished before the kill: nothing was interrupted")
	}

	// While it is down: deletes, recreations, additions and hand faults.
	for i := deleteEvery; i <= total; i += deleteEvery {
		if err := cl.c.Delete(ctx, newHandle(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range recreated {
		if err := cl.c.Create(ctx, newHandle((i+1)*deleteEvery)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := testoperator.CreateAll(ctx, cl.c, 16, added, func(i int) client.Object { return newHandle(total + i + 1) }); err != nil {
		t.Fatal(err)
	}
	var victims []string
	for _, name := range done {
		if i := handleNumber(name); i%deleteEvery != 0 {
			victims = append(victims, name)
		}
	}
	for i, name := range victims[:edited+appended] {
		editRoute(ctx, t, cl.c, ns, "handle-"+name, func(r *gatewayv1.HTTPRoute) {
			if i < edited {
				r.Spec.Rules[0].BackendRefs[0].Port = ptr.To(gatewayv1.PortNumber(9999))
			} else {
				r.Spec.Hostnames = append(r.Spec.Hostnames, "intruder.example.com")
			}
		})
	}
	victims = victims[edited+appended:]
	for _, name := range victims[:routesDeleted] {
		deleteObject(ctx, t, cl.c, &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "handle-" + name + "-compat"}})
	}
	for _, name := range victims[routesDeleted : routesDeleted+certsDeleted] {
		deleteObject(ctx, t, cl.c, &certmanagerv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "handle-" + name}})
	}
	live := total - total/deleteEvery + recreated + added
	t.Logf("while down: deleted %d handles, recreated %d of them, added %d (%d live); changed the port of %d hosted routes, added a hostname to %d, deleted %d compatibility routes and %d certificates",
		total/deleteEvery, recreated, added, live, edited, appended, routesDeleted, certsDeleted)

	restarted := time.Now()
	second := cl.startOperator(t, "operator-2", kubeconfig, unlimited...)
	running := []*proc.Process{second}
	statuses := waitFor(ctx, t, 3*time.Minute, running, converged(cl, live, live))
	exact := statuses + waitFor(ctx, t, time.Minute, running, func(ctx context.Context) error { return checkEdge(ctx, cl.c, cl.cfg) })
	t.Logf("after the restart: every live handle converged in %.1fs, the edge was exactly as wanted in %.1fs; %s",
		statuses.Seconds(), exact.Seconds(), census(ctx, t, cl.c, ns))
	t.Logf("the operator's writes: before the kill %v; after the restart %v",
		auditWrites(t, auditLog, time.Time{}, killed, "operator")["operator"], auditWrites(t, auditLog, restarted, time.Now(), "operator")["operator"])
}

func newHandle(i int) *mcpv1alpha1.Handle {
	return &mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("h%04d", i)}}
}

func handleNumber(name string) int {
	var i int
	_, _ = fmt.Sscanf(name, "h%d", &i)
	return i
}

// editRoute changes a route as a person with kubectl edit would.
func editRoute(ctx context.Context, t *testing.T, c client.Client, ns, name string, edit func(*gatewayv1.HTTPRoute)) {
	t.Helper()
	route := &gatewayv1.HTTPRoute{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, route); err != nil {
		t.Fatal(err)
	}
	edit(route)
	if err := c.Update(ctx, route, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
}

func deleteObject(ctx context.Context, t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Delete(ctx, obj); err != nil {
		t.Fatal(err)
	}
}

// convergedHandles returns the names of the handles whose status is current
// and Accepted, sorted.
func convergedHandles(ctx context.Context, t *testing.T, c client.Client) []string {
	t.Helper()
	var handles mcpv1alpha1.HandleList
	if err := c.List(ctx, &handles); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range handles.Items {
		if testoperator.StatusDone(&handles.Items[i]) {
			names = append(names, handles.Items[i].Name)
		}
	}
	slices.Sort(names)
	return names
}

// edgeLists are the kinds the operator writes per handle in perHandle mode.
func edgeLists() map[string]client.ObjectList {
	return map[string]client.ObjectList{
		"HTTPRoute":   &gatewayv1.HTTPRouteList{},
		"Certificate": &certmanagerv1.CertificateList{},
		"ListenerSet": &gatewayv1.ListenerSetList{},
	}
}

// listEdge returns the objects of the edge kinds in ns by "Kind/name".
func listEdge(ctx context.Context, c client.Client, ns string) (map[string]client.Object, error) {
	objs := map[string]client.Object{}
	for kind, list := range edgeLists() {
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("failed to list %ss: %w", kind, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		for _, item := range items {
			o := item.(client.Object)
			objs[kind+"/"+o.GetName()] = o
		}
	}
	return objs, nil
}

// census counts the objects of each edge kind, for the log.
func census(ctx context.Context, t *testing.T, c client.Client, ns string) string {
	t.Helper()
	objs, err := listEdge(ctx, c, ns)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for key := range objs {
		kind, _, _ := strings.Cut(key, "/")
		counts[kind]++
	}
	parts := make([]string, 0, len(counts))
	for _, kind := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%d %ss", counts[kind], kind))
	}
	return strings.Join(parts, ", ") + " in " + ns
}

// checkEdge compares the edge with what the live handles need, as the
// operator's own builders say: every handle's status is current, Accepted
// and names its endpoints; every object a handle needs exists once, with
// its labels and spec, controlled by that handle alone; and nothing else
// exists but the platform's own objects.
func checkEdge(ctx context.Context, c client.Client, cfg *platform.Config) error {
	var handles mcpv1alpha1.HandleList
	if err := c.List(ctx, &handles); err != nil {
		return err
	}
	want := map[string]client.Object{}
	owner := map[string]types.UID{}
	var problems []string
	for i := range handles.Items {
		h := &handles.Items[i]
		if !testoperator.StatusDone(h) {
			problems = append(problems, fmt.Sprintf("Handle %s: status not current and Accepted", h.Name))
		}
		endpoints := mcpv1alpha1.HandleEndpoints{Hosted: cfg.HostedURL(h.Name), Gateway: cfg.GatewayURL(), Compatibility: cfg.CompatibilityURL(h.Name)}
		if h.Status.Endpoints == nil || *h.Status.Endpoints != endpoints {
			problems = append(problems, fmt.Sprintf("Handle %s: endpoints %+v, want %+v", h.Name, h.Status.Endpoints, endpoints))
		}
		for _, o := range controllers.HandleObjects(cfg, h) {
			key := o.GetObjectKind().GroupVersionKind().Kind + "/" + o.GetName()
			want[key], owner[key] = o, h.UID
		}
	}
	for _, o := range controllers.PlatformObjects(cfg) {
		want[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = o
	}
	have, err := listEdge(ctx, c, cfg.Namespace)
	if err != nil {
		return err
	}
	perHandle := map[string]int{}
	for _, key := range slices.Sorted(maps.Keys(have)) {
		o := have[key]
		if l := o.GetLabels(); l[controllers.LabelHandle] != "" {
			perHandle[l[controllers.LabelHandle]+" "+l[controllers.LabelComponent]]++
		}
		desired, ok := want[key]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: no live handle needs it (labels %v, owners %v)", key, o.GetLabels(), ownerUIDs(o)))
			continue
		}
		if uid := owner[key]; uid != "" {
			if refs := o.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != uid || refs[0].Controller == nil || !*refs[0].Controller {
				problems = append(problems, fmt.Sprintf("%s: owners %v, want only the live handle %s as controller", key, ownerUIDs(o), uid))
			}
		}
		for k, v := range desired.GetLabels() {
			if o.GetLabels()[k] != v {
				problems = append(problems, fmt.Sprintf("%s: label %s=%q, want %q", key, k, o.GetLabels()[k], v))
			}
		}
		if err := sameSpec(desired, o); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", key, err))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		if have[key] == nil {
			problems = append(problems, key+": missing")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(perHandle)) {
		if perHandle[k] > 1 {
			problems = append(problems, fmt.Sprintf("handle %s: %d objects", k, perHandle[k]))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%d differences, first: %s", len(problems), strings.Join(problems[:min(len(problems), 10)], "; "))
}

// sameSpec reports whether have's spec is desired's plus only the fields
// the apiserver defaults.
func sameSpec(desired, have client.Object) error {
	d, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return err
	}
	h, err := runtime.DefaultUnstructuredConverter.ToUnstructured(have)
	if err != nil {
		return err
	}
	if path := firstDifference("spec", d["spec"], h["spec"]); path != "" {
		return fmt.Errorf("spec differs from the operator's at %s", path)
	}
	return nil
}

// firstDifference returns the path of the first value of want that have
// lacks or holds differently, or "". A field want leaves out may hold
// anything (a default); a list must have exactly want's items, because
// defaulting never adds items to the operator's lists while a hand edit
// may.
func firstDifference(path string, want, have any) string {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return path
		}
		for _, k := range slices.Sorted(maps.Keys(w)) {
			if p := firstDifference(path+"."+k, w[k], h[k]); p != "" {
				return p
			}
		}
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return path
		}
		for i := range w {
			if p := firstDifference(fmt.Sprintf("%s[%d]", path, i), w[i], h[i]); p != "" {
				return p
			}
		}
	default:
		if !equality.Semantic.DeepEqual(want, have) {
			return path
		}
	}
	return ""
}

func ownerUIDs(o client.Object) []types.UID {
	var uids []types.UID
	for _, ref := range o.GetOwnerReferences() {
		uids = append(uids, ref.UID)
	}
	return uids
}
