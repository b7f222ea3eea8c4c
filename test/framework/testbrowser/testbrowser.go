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

// Start starts headless Chromium with a fresh profile: host names resolve
// as hostResolverRules says (Chromium's --host-resolver-rules), and the
// certificate whose public key hashes to spki (base64 SHA-256) is trusted
// whatever names it carries. The browser stops when the test ends.
func Start(t testing.TB, chromium, hostResolverRules, spki string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("host-resolver-rules", hostResolverRules),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return ctx
}

// Steps runs a test's browser steps in one tab: each step within Timeout,
// a screenshot of the page a step failed on, numbered screenshots in Dir.
type Steps struct {
	T       testing.TB
	Ctx     context.Context
	Dir     string
	Timeout time.Duration
	shots   int
}

// Run runs the actions of one step and logs how long it took.
func (s *Steps) Run(what string, actions ...chromedp.Action[chromedp.Void]) {
	s.T.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(s.Ctx, s.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(s.Ctx, chromedp.Location())
		Shot(s.Ctx, s.T, s.Dir, "failed-"+strings.ReplaceAll(what, " ", "-"))
		s.T.Fatalf("%s (at %s): %v", what, loc, err)
	}
	s.T.Logf("chromium: %-40s %s", what, time.Since(start).Round(time.Millisecond))
}

// Text returns the trimmed text of the element sel selects.
func (s *Steps) Text(sel string) string {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(s.Ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		s.T.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

// Screenshot saves the next numbered screenshot, NN-name.png.
func (s *Steps) Screenshot(name string) {
	s.T.Helper()
	s.shots++
	Shot(s.Ctx, s.T, s.Dir, fmt.Sprintf("%02d-%s", s.shots, name))
}
