package runtime_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/runtime/grants"
	"github.com/10xdotin/mcp-handle-operator/runtime/tokens"
)

// backup saves obj as a backup tool restores it: Velero's restore keeps
// only the name, namespace, labels and annotations of the metadata (no
// owner references, UID or resourceVersion) and drops status unless told
// otherwise; `kubectl create` of a saved object and server-side apply
// ignore status too.
func backup(t *testing.T, obj client.Object) []byte {
	t.Helper()
	gvk, err := apiutil.GVKForObject(obj, env.Client.Scheme())
	if err != nil {
		t.Fatal(err)
	}
	u, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	delete(u, "status")
	u["metadata"] = map[string]any{"name": obj.GetName(), "namespace": obj.GetNamespace(), "labels": obj.GetLabels(), "annotations": obj.GetAnnotations()}
	u["apiVersion"], u["kind"] = gvk.GroupVersion().String(), gvk.Kind
	out, err := yaml.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Grants restored from a backup after their objects were deleted keep
// every connector working: the token state is in an annotation, which the
// backup holds, and not in status, which it drops. Without it the restored
// refresh tokens would be refused as reused and every user signed out.
func TestGrantsSurviveDeleteAndRestoreFromBackup(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, withMCP(t))
	verifier, challenge := pkce()
	exchange := func(s *stack, code string) map[string]any {
		t.Helper()
		status, tok := s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"acme-chatgpt"},
			"redirect_uri": {callback}, "code_verifier": {verifier}})
		if status != http.StatusOK {
			t.Fatalf("code exchange: %d %v", status, tok)
		}
		return tok
	}
	refresh := func(s *stack, token string) (int, map[string]any) {
		t.Helper()
		return s.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {"acme-chatgpt"}})
	}
	grantOf := func(refreshToken string) string {
		name, _ := tokens.ParseOpaque(tokens.RefreshPrefix, refreshToken)
		return name
	}

	// Connector a: exchanged and refreshed. Connector b: refreshed, its
	// first refresh token kept to present again. Connector c: approved, its
	// code not yet exchanged.
	codeA := s.signInAndApprove(t, authorizeURL(challenge, nil)).Query().Get("code")
	_, tokA := refresh(s, exchange(s, codeA)["refresh_token"].(string))
	firstB := exchange(s, s.signInAndApprove(t, authorizeURL(challenge, nil)).Query().Get("code"))["refresh_token"].(string)
	if status, out := refresh(s, firstB); status != http.StatusOK {
		t.Fatalf("refresh of b: %d %v", status, out)
	}
	codeC := s.signInAndApprove(t, authorizeURL(challenge, nil)).Query().Get("code")
	accessA, refreshA := tokA["access_token"].(string), tokA["refresh_token"].(string)
	nameC, _ := tokens.ParseOpaque(tokens.CodePrefix, codeC)

	// The backup: the grants, their client, the handle, the sign-in users
	// and the signing keys.
	objs := []client.Object{
		&mcpv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Name: grantOf(refreshA)}},
		&mcpv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Name: grantOf(firstB)}},
		&mcpv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Name: nameC}},
		&mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "acme-chatgpt"}},
		&mcpv1alpha1.Handle{ObjectMeta: metav1.ObjectMeta{Name: "acme"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mcp-users", Namespace: s.cfg.Namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mcp-runtime-signing-keys", Namespace: s.cfg.Namespace}},
	}
	var saved [][]byte
	for _, o := range objs {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		saved = append(saved, backup(t, o))
	}
	if doc := string(saved[0]); strings.Contains(doc, "status:") || !strings.Contains(doc, grants.TokenStateAnnotation) {
		t.Fatalf("the saved grant:\n%s", doc)
	}

	// Disaster: everything is deleted, then created again from the backup.
	for _, o := range objs {
		if err := env.Client.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if grantExists(t, nameC) {
		t.Fatal("a deleted grant is still there")
	}
	for _, doc := range saved {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatalf("restoring %s: %v", u.GetName(), err)
		}
	}
	restored := &mcpv1alpha1.Connection{}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: grantOf(refreshA)}, restored); err != nil || restored.Status.RefreshTokenHash != "" {
		t.Fatalf("restored grant: %v %+v", err, restored.Status)
	}

	// New replicas (their caches and keys read afresh) serve the restored
	// grants.
	s = newStack(t, withMCP(t))
	if status, _, out, _ := s.rpc(t, "https://acme.mcp.10x.in/mcp", accessA, "", "initialize",
		map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}}); status != http.StatusOK {
		t.Fatalf("a's access token after the restore: %d %v", status, out)
	}
	status, out := refresh(s, refreshA)
	if status != http.StatusOK {
		t.Fatalf("a's refresh token after the restore: %d %v", status, out)
	}
	if status, out := refresh(s, out["refresh_token"].(string)); status != http.StatusOK {
		t.Fatalf("a's rotated refresh token: %d %v", status, out)
	}
	exchange(s, codeC)

	// Reuse detection survives too: b's replaced refresh token and c's
	// redeemed code each revoke their grant.
	if status, out := refresh(s, firstB); status != http.StatusBadRequest || out["error"] != "invalid_grant" || grantExists(t, grantOf(firstB)) {
		t.Errorf("b's replaced refresh token after the restore: %d %v (grant kept: %v)", status, out, grantExists(t, grantOf(firstB)))
	}
	status, out = s.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {codeC}, "client_id": {"acme-chatgpt"},
		"redirect_uri": {callback}, "code_verifier": {verifier}})
	if status != http.StatusBadRequest || grantExists(t, nameC) {
		t.Errorf("c's code again: %d %v (grant kept: %v)", status, out, grantExists(t, nameC))
	}
}
