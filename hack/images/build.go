package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The non-root user of every image, as in the distroless images: the chart's
// pods run as it (runAsNonRoot needs a numeric user in the image config).
const (
	uid        = 65532
	user       = "65532:65532"
	caBundle   = "etc/ssl/certs/ca-certificates.crt"
	annRefName = "org.opencontainers.image.ref.name"
)

// Target is one image: NAME=PACKAGE on the command line.
type Target struct {
	Name    string // image name under the registry, and the binary /Name
	Package string // Go main package, as `go build` takes it
}

// Options of one build.
type Options struct {
	Out       string // output directory of Write
	Registry  string // references are Registry/Name:Version
	Version   string
	Revision  string
	Source    string
	Platforms []v1.Platform
	Created   time.Time // SOURCE_DATE_EPOCH: image creation time and every file's mtime
	Targets   []Target
	Log       io.Writer // go build's output; nil discards it
}

// Result is one built image index.
type Result struct {
	Name   string
	Ref    name.Tag
	Index  v1.ImageIndex
	Digest v1.Hash
	Host   HostImage
}

// HostImage is the image of an index for the host platform (or the first
// platform when the host's is not built), the one Write puts in NAME.tar.
type HostImage struct {
	Platform string
	Image    v1.Image
	Size     int64 // compressed: manifest, config and layers
}

// Build builds one image index per target.
func Build(ctx context.Context, o Options) ([]Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	base, err := baseLayer(o.Created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	tmp, err := os.MkdirTemp("", "images-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	host := hostPlatform(o.Platforms)
	var results []Result
	for _, t := range o.Targets {
		ref, err := name.NewTag(o.Registry + "/" + t.Name + ":" + o.Version)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		anns := annotations(o, t.Name)
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		r := Result{Name: t.Name, Ref: ref}
		for _, p := range o.Platforms {
			bin := filepath.Join(tmp, t.Name+"-"+strings.ReplaceAll(p.String(), "/", "-"))
			if err := goBuild(ctx, o, t.Package, p, bin); err != nil {
				return nil, fmt.Errorf("%s (%s): %w", t.Name, p, err)
			}
			img, err := image(o, t.Name, p, base, bin, anns)
			if err != nil {
				return nil, fmt.Errorf("%s (%s): %w", t.Name, p, err)
			}
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
				Add:        notArtifact{img},
				Descriptor: v1.Descriptor{Platform: &p},
			})
			if p.String() == host.String() {
				size, err := compressedSize(img)
				if err != nil {
					return nil, err
				}
				r.Host = HostImage{Platform: p.String(), Image: img, Size: size}
			}
		}
		r.Index = mutate.Annotations(idx, anns).(v1.ImageIndex)
		if r.Digest, err = r.Index.Digest(); err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

// Write writes the OCI image layout Out/layout with every index (replacing
// an older one) and the host platform's image of each as Out/NAME.tar.
func Write(o Options, results []Result) error {
	dir := filepath.Join(o.Out, "layout")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	for _, r := range results {
		if err := lp.AppendIndex(r.Index, layout.WithAnnotations(map[string]string{annRefName: r.Ref.String()})); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		file := filepath.Join(o.Out, r.Name+".tar")
		if err := tarball.WriteToFile(file+".tmp", r.Ref, r.Host.Image); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			return err
		}
	}
	return nil
}

// Push pushes an index to its reference with the Docker credentials of the
// user (authn.DefaultKeychain) and returns REF@DIGEST.
func Push(ctx context.Context, r Result) (string, error) {
	if err := remote.WriteIndex(r.Ref, r.Index, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", fmt.Errorf("push %s: %w", r.Ref, err)
	}
	return r.Ref.String() + "@" + r.Digest.String(), nil
}

func annotations(o Options, title string) map[string]string {
	a := map[string]string{
		"org.opencontainers.image.created": o.Created.Format(time.RFC3339),
		"org.opencontainers.image.title":   title,
		"org.opencontainers.image.version": o.Version,
	}
	if o.Source != "" {
		a["org.opencontainers.image.source"] = o.Source
	}
	if o.Revision != "" {
		a["org.opencontainers.image.revision"] = o.Revision
	}
	return a
}

// goBuild builds a static, reproducible binary: no cgo, no paths of this
// machine, no build ID, no VCS stamp (the revision is an annotation instead).
// Packages with a `var version string` in main get --version.
func goBuild(ctx context.Context, o Options, pkg string, p v1.Platform, out string) error {
	gobin := os.Getenv("GO")
	if gobin == "" {
		gobin = "go"
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X main.version="+o.Version, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Architecture == "arm" && strings.HasPrefix(p.Variant, "v") {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	fmt.Fprintf(o.Log, "built %s for %s in %s\n", pkg, p, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// image is the image of one binary for one platform: the base layer, then a
// layer with the binary at /name.
func image(o Options, name string, p v1.Platform, base v1.Layer, bin string, anns map[string]string) (v1.Image, error) {
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	app, err := layer(o.Created, []entry{{name: name, mode: 0o755, body: b}})
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Variant:      p.Variant,
		Created:      v1.Time{Time: o.Created},
		Config: v1.Config{
			Entrypoint: []string{"/" + name},
			User:       user,
			WorkingDir: "/",
			Env:        []string{"SSL_CERT_FILE=/" + caBundle},
			Labels:     anns,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: o.Created}, CreatedBy: "hack/images: CA bundle, /etc/passwd, /etc/group (nonroot 65532)"}},
		mutate.Addendum{Layer: app, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: o.Created}, CreatedBy: "hack/images: go build -o /" + name}},
	)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, anns).(v1.Image), nil
}

// baseLayer holds what a static Go binary wants from a root filesystem: the
// CA bundle Go reads at /etc/ssl/certs/ca-certificates.crt, /etc/passwd and
// /etc/group with nonroot (65532), its home and a /tmp. No shell.
func baseLayer(created time.Time) (v1.Layer, error) {
	var ca bytes.Buffer
	for root := range bundle.Roots() {
		// A root with a constraint (NSS's distrust-after date) cannot be
		// expressed in a PEM bundle; trusting it without the constraint
		// would trust what NSS does not, so it is left out.
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(&ca, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	return layer(created, []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: caBundle, mode: 0o644, body: ca.Bytes()},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, owner: uid},
		{name: "tmp/", mode: 0o1777},
	})
}

// entry is a file (or, with a name ending in /, a directory) of a layer.
type entry struct {
	name  string
	mode  int64
	owner int // uid and gid
	body  []byte
}

// layer makes a gzip-compressed OCI layer of entries, in their order, every
// mtime set to created. crane.Layer (the filemap helper of
// go-containerregistry) sets neither modes, owners, mtimes nor directories,
// so this writes the few headers with archive/tar itself. The layer is
// compressed once here (gzip without a name or time in its header, so the
// bytes depend on the content alone) rather than on every read.
func layer(created time.Time, entries []entry) (v1.Layer, error) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.owner,
			Gid:     e.owner,
			ModTime: created,
			Format:  tar.FormatPAX,
		}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(tb.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	compressed := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// notArtifact keeps artifactType out of an image's index entry: without it,
// go-containerregistry copies config.mediaType there, which the OCI image
// spec meant for artifacts, not for container images.
type notArtifact struct{ v1.Image }

func (notArtifact) ArtifactType() (string, error) { return "", nil }

func hostPlatform(ps []v1.Platform) v1.Platform {
	for _, p := range ps {
		if p.OS == goruntime.GOOS && p.Architecture == goruntime.GOARCH {
			return p
		}
	}
	return ps[0]
}

func parsePlatforms(s string) ([]v1.Platform, error) {
	var ps []v1.Platform
	seen := map[string]bool{}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		p, err := v1.ParsePlatform(f)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want OS/ARCH[/VARIANT]", f)
		}
		if seen[p.String()] {
			return nil, fmt.Errorf("platform %q named twice", f)
		}
		seen[p.String()] = true
		ps = append(ps, *p)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("no platform")
	}
	return ps, nil
}

func compressedSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	n := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}
