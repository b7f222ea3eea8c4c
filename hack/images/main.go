// Command images builds the project's container images without a Docker
// daemon: for each NAME=./path/to/main/package argument, one OCI image index
// with an image per platform, each a static Go binary at /NAME (the
// entrypoint) on a minimal base (a CA bundle, /etc/passwd and /etc/group naming
// nonroot 65532, no shell). The images are reproducible: every timestamp comes
// from SOURCE_DATE_EPOCH, so two builds of one commit give the same digests.
//
// It writes, under --out:
//
//	layout/      an OCI image layout with every index, each annotated
//	             org.opencontainers.image.ref.name=REGISTRY/NAME:VERSION
//	NAME.tar     the host platform's image as a tarball that `docker load`
//	             and `ctr -n k8s.io images import` accept, named the same
//
// and prints a table of names, references, index digests and sizes. With
// --push it then pushes every index to REGISTRY/NAME:VERSION with the
// ordinary Docker credentials (~/.docker/config.json, credential helpers).
//
//	go run ./hack/images --out bin/images --registry ghcr.io/10xdotin/mcp-handle-operator \
//		--version 0.1.0 --revision "$(git rev-parse HEAD)" \
//		--platforms linux/amd64,linux/arm64 manager=./cmd/manager runtime=./cmd/runtime
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	var o Options
	fs.StringVar(&o.Out, "out", "bin/images", "output directory: layout/ (OCI image layout) and NAME.tar (host platform)")
	fs.StringVar(&o.Registry, "registry", "", "repository prefix of the images: REGISTRY/NAME:VERSION (required)")
	fs.StringVar(&o.Version, "version", "", "image tag and org.opencontainers.image.version; also -X main.version (required)")
	fs.StringVar(&o.Revision, "revision", "", "org.opencontainers.image.revision (the git commit)")
	fs.StringVar(&o.Source, "source", "", "org.opencontainers.image.source (the repository URL)")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated OS/ARCH[/VARIANT] of every image")
	epoch := fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Unix time of every timestamp in the images (default $SOURCE_DATE_EPOCH, else 0)")
	push := fs.Bool("push", false, "push every index to REGISTRY/NAME:VERSION after building it")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: images [flags] NAME=./path/to/main/package ...\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.Registry == "" || o.Version == "" {
		return errors.New("--registry and --version are required")
	}
	o.Registry = strings.TrimSuffix(o.Registry, "/")
	var err error
	if o.Platforms, err = parsePlatforms(*platforms); err != nil {
		return err
	}
	if o.Created, err = parseEpoch(*epoch); err != nil {
		return err
	}
	if o.Targets, err = parseTargets(fs.Args()); err != nil {
		return err
	}
	o.Log = os.Stderr

	results, err := Build(ctx, o)
	if err != nil {
		return err
	}
	if err := Write(o, results); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tREFERENCE\tINDEX DIGEST\tSIZE (%s, compressed)\n", results[0].Host.Platform)
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Ref, r.Digest, mib(r.Host.Size))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *push {
		for _, r := range results {
			pushed, err := Push(ctx, r)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, pushed)
		}
	}
	return nil
}

func parseEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: not a Unix time", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

func parseTargets(args []string) ([]Target, error) {
	if len(args) == 0 {
		return nil, errors.New("name at least one image: NAME=./path/to/main/package")
	}
	seen := map[string]bool{}
	var ts []Target
	for _, a := range args {
		n, pkg, ok := strings.Cut(a, "=")
		if !ok || n == "" || pkg == "" {
			return nil, fmt.Errorf("%q: want NAME=./path/to/main/package", a)
		}
		if strings.ContainsAny(n, "/:@ ") || strings.ToLower(n) != n {
			return nil, fmt.Errorf("%q: the image name must be one lower-case path component", n)
		}
		if seen[n] {
			return nil, fmt.Errorf("image %q named twice", n)
		}
		seen[n] = true
		ts = append(ts, Target{Name: n, Package: pkg})
	}
	return ts, nil
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
