package reliability

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/10xdotin/mcp-handle-operator/runtime/keysecret"
	"github.com/10xdotin/mcp-handle-operator/runtime/upstream"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fleet"
	"github.com/10xdotin/mcp-handle-operator/test/framework/loadgen"
)

// keysReread is how long the test waits for the replicas to apply a
// changed key Secret: they watch it, so a generous slack over the watch's
// latency.
const keysReread = 3 * time.Second

// Both signing keys (the access tokens' and the upstream tokens') rotate
// under a steady mixed load, as docs/runtime.md says: add the new key, wait
// until every replica has read it, make it current. No request fails
// during the overlap; once the old keys are dropped, a token they signed is
// refused and everything issued since works.
func TestSigningKeyRotationUnderLoad(t *testing.T) {
	f := startFleet(t, 2)
	ctx := context.Background()
	ns := f.Config.Namespace
	cs := clients(t, f, 6, false)
	oldAccess := cs[0].Access

	hmacKey := make([]byte, 32)
	_, _ = rand.Read(hmacKey)
	hmacID := "k-rotated-" + time.Now().UTC().Format("20060102150405")
	upstreamID, upstreamKey, err := upstream.NewKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rotations := []struct {
		secret, id string
		key        []byte
		old        []string
	}{
		{fleet.SigningKeysSecret, hmacID, hmacKey, nil},
		{upstream.DefaultSecretName, upstreamID, upstreamKey, nil},
	}
	for i, r := range rotations {
		s := &corev1.Secret{}
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: r.secret}, s); err != nil {
			t.Fatal(err)
		}
		for id := range s.Data {
			rotations[i].old = append(rotations[i].old, id)
		}
	}
	patch := func(name string, p map[string]any) {
		t.Helper()
		b, _ := json.Marshal(p)
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if err := env.Client.Patch(ctx, s, client.RawPatch(types.MergePatchType, b)); err != nil {
			t.Fatal(err)
		}
	}

	rec := &loadgen.Recorder{}
	stop := loadgen.Start(cs, rec, loadgen.Mix{Lists: 1, Calls: 2, RefreshEvery: 1, AuthorizeEvery: 4})
	start := time.Now()
	time.Sleep(2 * time.Second)
	added := time.Now()
	for _, r := range rotations {
		patch(r.secret, map[string]any{"data": map[string]string{r.id: base64.StdEncoding.EncodeToString(r.key)}})
	}
	time.Sleep(keysReread)
	switched := time.Now()
	for _, r := range rotations {
		patch(r.secret, map[string]any{"metadata": map[string]any{"annotations": map[string]string{keysecret.CurrentKeyAnnotation: r.id}}})
	}
	time.Sleep(keysReread)
	stop()
	end := time.Now()
	results := rec.Results()
	logStats(t, "before the rotation", results, start, added)
	logStats(t, "new keys published", results, added, switched)
	all := logStats(t, "new keys sign", results, switched, end)
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s of client %d at %.2f s failed, cause %q: %v", r.Op, r.Client, r.Start.Sub(start).Seconds(), loadgen.Cause(r.Err), r.Err)
		}
	}
	if s := all[loadgen.OpRefresh]; s == nil || s.Count == 0 {
		t.Fatal("no token was issued with the new keys")
	}

	// Drop the old keys: a token they signed is refused, a new
	// authorization works end to end (the toolset verifies the new
	// upstream key).
	for _, r := range rotations {
		data := map[string]any{}
		for _, id := range r.old {
			data[id] = nil
		}
		patch(r.secret, map[string]any{"data": data})
	}
	time.Sleep(keysReread)
	stale, err := loadgen.NewClient(f.Target(), f.Transport(false), 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	stale.Access = oldAccess
	if err := stale.Initialize(ctx); loadgen.Code(err) != "invalid_token" {
		t.Errorf("a token of the dropped key: %v, want invalid_token", err)
	}
	fresh := clients(t, f, 1, false)[0]
	if err := fresh.CallTool(ctx); err != nil {
		t.Errorf("a tool call after the old keys were dropped: %v", err)
	}
}
