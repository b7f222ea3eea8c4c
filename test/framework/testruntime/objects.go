package testruntime

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/test/framework/fixtures"
)

// CreateUserAndHandle creates the platform namespace, the static users
// Secret users with one user who signs in with email and password, and the
// handle h, each unless it exists (a suite creates them once).
func CreateUserAndHandle(t testing.TB, c client.Client, namespace, users, email, password string, h *mcpv1alpha1.Handle) {
	t.Helper()
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		fixtures.UsersSecretIn(namespace, users, fixtures.User(email, password)),
		h,
	}
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}
