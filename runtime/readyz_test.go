package runtime

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// /readyz answers 503 until the informer caches have synced; /healthz
// answers as soon as the process serves.
func TestReadyz(t *testing.T) {
	s := testServer(t)
	synced := false
	s.Ready = func(context.Context) error {
		if !synced {
			return errors.New("not synced")
		}
		return nil
	}
	h := s.Handler()
	if resp, _ := fetch(t, h, "10.0.0.1:8080", "/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the caches synced: %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, h, "10.0.0.1:8080", "/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	synced = true
	if resp, _ := fetch(t, h, "10.0.0.1:8080", "/readyz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz after the caches synced: %d", resp.StatusCode)
	}
}
