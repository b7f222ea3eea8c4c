package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// One small main package of this module; any main package path works.
const (
	testName    = "links-toolset"
	testPackage = "github.com/10xdotin/mcp-handle-operator/cmd/links-toolset"
	testEpoch   = 1767225600 // 2026-01-01T00:00:00Z
)

func testOptions(t *testing.T, registry string) Options {
	t.Helper()
	ps, err := parsePlatforms("linux/amd64,linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		Out:       t.TempDir(),
		Registry:  registry,
		Version:   "0.1.0",
		Revision:  "0123456789abcdef0123456789abcdef01234567",
		Source:    "https://github.com/10xdotin/mcp-handle-operator",
		Platforms: ps,
		Created:   time.Unix(testEpoch, 0).UTC(),
		Targets:   []Target{{Name: testName, Package: testPackage}},
		Log:       testLog{t},
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func buildAndWrite(t *testing.T, o Options) []Result {
	t.Helper()
	rs, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(o, rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

// Two builds of the same sources into two directories give the same index
// digest, and the layout holds what the chart's pods need.
func TestReproducibleImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary for two platforms, twice")
	}
	a := testOptions(t, "ghcr.io/10xdotin/mcp-handle-operator")
	b := a
	b.Out = t.TempDir()
	ra := buildAndWrite(t, a)
	rb := buildAndWrite(t, b)
	if ra[0].Digest != rb[0].Digest {
		t.Fatalf("two builds differ: %s and %s", ra[0].Digest, rb[0].Digest)
	}
	t.Logf("index %s, %s image %d bytes compressed", ra[0].Digest, ra[0].Host.Platform, ra[0].Host.Size)

	// Every file of the output, not just the index, is the same.
	for _, rel := range []string{"layout/index.json", testName + ".tar"} {
		fa, err := os.ReadFile(filepath.Join(a.Out, rel))
		if err != nil {
			t.Fatal(err)
		}
		fb, err := os.ReadFile(filepath.Join(b.Out, rel))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fa, fb) {
			t.Errorf("%s differs between the two builds", rel)
		}
	}

	// The layout's index names the image by its full reference.
	lp, err := layout.FromPath(filepath.Join(a.Out, "layout"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	ref := "ghcr.io/10xdotin/mcp-handle-operator/links-toolset:0.1.0"
	if len(tm.Manifests) != 1 || tm.Manifests[0].Digest != ra[0].Digest || tm.Manifests[0].Annotations[annRefName] != ref {
		t.Fatalf("layout index.json: %+v, want one entry %s named %s", tm.Manifests, ra[0].Digest, ref)
	}
	idx, err := top.ImageIndex(ra[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	wantAnns := map[string]string{
		"org.opencontainers.image.source":   a.Source,
		"org.opencontainers.image.revision": a.Revision,
		"org.opencontainers.image.version":  "0.1.0",
		"org.opencontainers.image.created":  "2026-01-01T00:00:00Z",
		"org.opencontainers.image.title":    testName,
	}
	checkAnnotations(t, "index", im.Annotations, wantAnns)

	platforms := map[string]bool{}
	for _, d := range im.Manifests {
		if d.Platform == nil {
			t.Fatalf("index entry %s has no platform", d.Digest)
		}
		if d.ArtifactType != "" {
			t.Errorf("index entry %s has artifactType %q: it is an image, not an artifact", d.Platform, d.ArtifactType)
		}
		platforms[d.Platform.String()] = true
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		checkAnnotations(t, d.Platform.String()+" manifest", m.Annotations, wantAnns)
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != "65532:65532" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/"+testName ||
			cf.OS+"/"+cf.Architecture != d.Platform.String() || !cf.Created.Equal(a.Created) {
			t.Errorf("%s config: user %q, entrypoint %q, platform %s/%s, created %s", d.Platform, cf.Config.User,
				cf.Config.Entrypoint, cf.OS, cf.Architecture, cf.Created)
		}
		checkFiles(t, d.Platform.String(), img, a.Created)
	}
	if !platforms["linux/amd64"] || !platforms["linux/arm64"] || len(platforms) != 2 {
		t.Errorf("platforms %v, want linux/amd64 and linux/arm64", platforms)
	}

	// The tarball holds the host platform's image under the same reference.
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	timg, err := tarball.ImageFromPath(filepath.Join(a.Out, testName+".tar"), &tag)
	if err != nil {
		t.Fatal(err)
	}
	got, err := timg.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	want, err := ra[0].Host.Image.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("%s.tar: config %s, want the %s image's %s", testName, got, ra[0].Host.Platform, want)
	}
}

func checkAnnotations(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: annotation %s = %q, want %q", what, k, got[k], v)
		}
	}
}

// checkFiles reads every layer of img: the binary, the CA bundle (which must
// parse), /etc/passwd with nonroot, every mtime at created, and no shell.
func checkFiles(t *testing.T, platform string, img v1.Image, created time.Time) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !h.ModTime.Equal(created) {
				t.Errorf("%s: %s has mtime %s, want %s", platform, h.Name, h.ModTime, created)
			}
			if h.Typeflag == tar.TypeReg {
				b, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				files[h.Name] = b
				if h.Name == testName && h.Mode&0o111 == 0 {
					t.Errorf("%s: /%s is not executable (mode %o)", platform, h.Name, h.Mode)
				}
			}
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(files[testName]) == 0 {
		t.Errorf("%s: no /%s", platform, testName)
	}
	for f := range files {
		if strings.HasPrefix(f, "bin/") || strings.HasSuffix(f, "/sh") {
			t.Errorf("%s: unexpected file %s", platform, f)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(files[caBundle]) {
		t.Errorf("%s: /%s has no certificate", platform, caBundle)
	} else if n := bytes.Count(files[caBundle], []byte("BEGIN CERTIFICATE")); n < 100 {
		t.Errorf("%s: /%s has %d certificates, want the whole bundle", platform, caBundle, n)
	}
	if !strings.Contains(string(files["etc/passwd"]), "nonroot:x:65532:65532:") ||
		!strings.Contains(string(files["etc/group"]), "nonroot:x:65532:") {
		t.Errorf("%s: /etc/passwd or /etc/group lacks nonroot 65532:\n%s%s", platform, files["etc/passwd"], files["etc/group"])
	}
}

// --push writes every index to the registry; pulling it back gives the same
// digest, which does not depend on the registry it is named under.
func TestPush(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary for two platforms")
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	out := t.TempDir()
	var stdout bytes.Buffer
	err := run(context.Background(), []string{
		"--out", out, "--registry", host + "/10xdotin/mcp-handle-operator", "--version", "0.1.0",
		"--revision", "0123456789abcdef0123456789abcdef01234567", "--source", "https://github.com/10xdotin/mcp-handle-operator",
		"--source-date-epoch", "1767225600", "--platforms", "linux/amd64,linux/arm64", "--push",
		testName + "=" + testPackage,
	}, &stdout)
	t.Log(stdout.String())
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/10xdotin/mcp-handle-operator/" + testName + ":0.1.0"
	pulledRef, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(pulledRef)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), ref+"@"+digest.String()) {
		t.Errorf("output does not name %s@%s", ref, digest)
	}

	// The same build under another registry name has the same digest.
	o := testOptions(t, "ghcr.io/10xdotin/mcp-handle-operator")
	rs, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Digest != digest {
		t.Errorf("pulled %s, built %s", digest, rs[0].Digest)
	}

	// Both platforms' images were pushed and can be pulled by digest.
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("pushed index has %d manifests, want 2", len(im.Manifests))
	}
	for _, d := range im.Manifests {
		img, err := remote.Image(pulledRef.Context().Digest(d.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := img.RawConfigFile(); err != nil {
			t.Fatal(err)
		}
	}
}
