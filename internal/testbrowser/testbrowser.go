// Package testbrowser drives Debian's headless Chromium from tests with
// chromedp: where the browser is, waiting for pages the informer cache has
// caught up with, and screenshots kept as test artifacts.
package testbrowser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's chromium, as hack/chromium.sh installs it; make
// test passes its path in CHROMIUM. A missing browser fails the test: it
// is installed by the project's own scripts, never skipped.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	p := os.Getenv("CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("chromium %s: %v (run `make chromium` or set CHROMIUM)", p, err)
	}
	return p
}

// WaitLocation waits until the tab's URL starts with prefix.
func WaitLocation(prefix string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tgt *chromedp.Target) (chromedp.Void, error) {
		for {
			loc, err := chromedp.Location()(ctx, tgt)
			if err == nil && strings.HasPrefix(loc, prefix) {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("the browser stayed at %s: %w", loc, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// NavigateUntil loads a page until an element is on it: the page reads an
// informer cache, which sees a new object a moment after the apiserver.
func NavigateUntil(pageURL, sel string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tgt *chromedp.Target) (chromedp.Void, error) {
		for {
			if _, err := chromedp.Navigate(pageURL)(ctx, tgt); err != nil {
				return chromedp.Void{}, err
			}
			ids, err := chromedp.QueryNodeIDs(chromedp.CSSAll(sel), chromedp.AtLeast(0))(ctx, tgt)
			if err == nil && len(ids) > 0 {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("%s never showed %s: %w", pageURL, sel, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// Shot saves a full-page screenshot as dir/name.png and logs its path.
func Shot(ctx context.Context, t testing.TB, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
