package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/internal/render"
)

// fileList is a repeatable -f flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// renderCommand prints, offline, what the operator would write.
func renderCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("platform-config", "", "platform configuration YAML (required)")
	var files fileList
	fs.Var(&files, "f", "manifest file or folder of *.yaml files, or - for standard input (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configPath == "" || len(files) == 0 {
		fmt.Fprintln(stderr, "mcpctl render: --platform-config and at least one -f are required")
		return 2
	}
	cfg, err := platform.Load(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "mcpctl render: %s: %v\n", *configPath, err)
		return 1
	}
	docs, err := readManifests(files, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "mcpctl render: %v\n", err)
		return 1
	}
	if err := render.Manifests(cfg, docs, stdout); err != nil {
		fmt.Fprintf(stderr, "mcpctl render: %v\n", err)
		return 1
	}
	return 0
}

// readManifests concatenates the YAML documents of the given files, folders
// (their *.yaml and *.yml files, sorted) and standard input.
func readManifests(paths []string, stdin io.Reader) (io.Reader, error) {
	var buf bytes.Buffer
	add := func(r io.Reader) error {
		if _, err := io.Copy(&buf, r); err != nil {
			return err
		}
		buf.WriteString("\n---\n")
		return nil
	}
	for _, p := range paths {
		if p == "-" {
			if err := add(stdin); err != nil {
				return nil, fmt.Errorf("failed to read standard input: %w", err)
			}
			continue
		}
		files := []string{p}
		if st, err := os.Stat(p); err != nil {
			return nil, err
		} else if st.IsDir() {
			files, _ = filepath.Glob(filepath.Join(p, "*.yaml"))
			ymls, _ := filepath.Glob(filepath.Join(p, "*.yml"))
			files = append(files, ymls...)
		}
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			if err := add(bytes.NewReader(data)); err != nil {
				return nil, err
			}
		}
	}
	return &buf, nil
}
