package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/test/framework/waitfor"
)

func createClient(t *testing.T, name string, spec mcpv1alpha1.OAuthClientSpec) {
	t.Helper()
	c := &mcpv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := env.Client.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, c) })
}

func getClient(t *testing.T, name string) *mcpv1alpha1.OAuthClient {
	t.Helper()
	c := &mcpv1alpha1.OAuthClient{}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: name}, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func waitClientReady(t *testing.T, name string, status metav1.ConditionStatus, reason string) *mcpv1alpha1.OAuthClient {
	t.Helper()
	var c *mcpv1alpha1.OAuthClient
	waitfor.Eventually(t, 10*time.Second, fmt.Sprintf("%s Ready=%s/%s", name, status, reason), func() error {
		c = getClient(t, name)
		got := meta.FindStatusCondition(c.Status.Conditions, "Ready")
		if got == nil || got.Status != status || got.Reason != reason || c.Status.ObservedGeneration != c.Generation {
			return fmt.Errorf("status:\n%s", toYAML(c.Status))
		}
		return nil
	})
	return c
}

const callback = "https://chatgpt.com/connector/oauth/cb_test"

func TestOAuthClientFollowsItsHandle(t *testing.T) {
	startOperator(t, platformConfig(t))
	createClient(t, "early", mcpv1alpha1.OAuthClientSpec{
		Handle: "later", ClientName: "ChatGPT", RedirectURIs: []mcpv1alpha1.RedirectURI{callback},
		AllowedScopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read", "links.write"},
	})
	c := waitClientReady(t, "early", metav1.ConditionFalse, mcpv1alpha1.OAuthClientReasonHandleNotFound)
	if c.Status.ClientID != "early" {
		t.Errorf("clientID = %q, want the object's name", c.Status.ClientID)
	}

	// The handle appears, offering too little: the client's status follows.
	createHandle(t, "later", mcpv1alpha1.HandleSpec{Scopes: []mcpv1alpha1.Scope{"mcp.connect", "skills.read"}})
	c = waitClientReady(t, "early", metav1.ConditionFalse, mcpv1alpha1.OAuthClientReasonScopesNotOffered)
	if msg := meta.FindStatusCondition(c.Status.Conditions, "Ready").Message; !strings.Contains(msg, "links.write") {
		t.Errorf("message does not name the missing scope: %q", msg)
	}

	h := getHandle(t, "later")
	h.Spec.Scopes = nil // the whole catalogue
	if err := env.Client.Update(ctx, h); err != nil {
		t.Fatal(err)
	}
	c = waitClientReady(t, "early", metav1.ConditionTrue, mcpv1alpha1.OAuthClientReasonReady)
	if c.Status.SecretRef != nil {
		t.Errorf("public client got a secret: %+v", c.Status.SecretRef)
	}
}

func TestConfidentialClientSecret(t *testing.T) {
	startOperator(t, platformConfig(t))
	createHandle(t, "vault", mcpv1alpha1.HandleSpec{})
	createClient(t, "vault-app", mcpv1alpha1.OAuthClientSpec{
		Handle: "vault", ClientName: "Backend", RedirectURIs: []mcpv1alpha1.RedirectURI{callback},
		TokenEndpointAuthMethod: mcpv1alpha1.TokenEndpointAuthClientSecretBasic,
	})
	c := waitClientReady(t, "vault-app", metav1.ConditionTrue, mcpv1alpha1.OAuthClientReasonReady)
	if c.Status.SecretRef == nil || c.Status.SecretRef.Name != "oauthclient-vault-app" || c.Status.SecretRef.Namespace != namespace {
		t.Fatalf("secretRef = %+v", c.Status.SecretRef)
	}
	secret := &corev1.Secret{}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "oauthclient-vault-app"}, secret); err != nil {
		t.Fatal(err)
	}
	value := string(secret.Data[mcpv1alpha1.ClientSecretKey])
	if len(value) < 40 {
		t.Fatalf("client secret %d characters long", len(value))
	}
	if ref := metav1.GetControllerOf(secret); ref == nil || ref.UID != c.UID {
		t.Errorf("secret owner = %+v", ref)
	}
	if strings.Contains(toYAML(c.Status), value) {
		t.Error("the client secret appears in status")
	}

	// Reconciling again never regenerates the secret.
	c.Spec.ClientName = "Backend v2"
	if err := env.Client.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitClientReady(t, "vault-app", metav1.ConditionTrue, mcpv1alpha1.OAuthClientReasonReady)
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "oauthclient-vault-app"}, secret); err != nil {
		t.Fatal(err)
	}
	if string(secret.Data[mcpv1alpha1.ClientSecretKey]) != value {
		t.Error("the client secret changed on an unrelated update")
	}

	// A client that becomes public loses its secret.
	c = getClient(t, "vault-app")
	c.Spec.TokenEndpointAuthMethod = mcpv1alpha1.TokenEndpointAuthNone
	if err := env.Client.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitfor.Eventually(t, 10*time.Second, "secret deleted", func() error {
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "oauthclient-vault-app"}, &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return stillThere(err)
	})
	if c := waitClientReady(t, "vault-app", metav1.ConditionTrue, mcpv1alpha1.OAuthClientReasonReady); c.Status.SecretRef != nil {
		t.Errorf("secretRef kept: %+v", c.Status.SecretRef)
	}
}

func TestGatewayClientNeedsTheSharedGateway(t *testing.T) {
	startOperator(t, platformConfig(t, func(c *platform.Config) { c.SharedGateway.Enabled = false }))
	createClient(t, "shared-app", mcpv1alpha1.OAuthClientSpec{
		Gateway: true, ClientName: "Shared", RedirectURIs: []mcpv1alpha1.RedirectURI{callback},
	})
	c := waitClientReady(t, "shared-app", metav1.ConditionFalse, mcpv1alpha1.OAuthClientReasonGatewayDisabled)
	if msg := meta.FindStatusCondition(c.Status.Conditions, "Ready").Message; !strings.Contains(msg, "invalid_target") {
		t.Errorf("message = %q", msg)
	}
}
