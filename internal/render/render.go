// Package render is `mcpctl render`: it reads Handle and OAuthClient
// manifests and prints, as YAML, exactly what the operator would write for
// them under a platform configuration, so a GitOps pull request can show its
// effect at the edge.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"

	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
	"github.com/10xdotin/mcp-handle-operator/controllers"
	"github.com/10xdotin/mcp-handle-operator/internal/platform"
	"github.com/10xdotin/mcp-handle-operator/internal/scheme"
)

// Manifests renders the objects for the manifests in docs (multi-document
// YAML). Kinds the operator writes nothing for (Toolset, Connection) are
// accepted and produce nothing; any other kind is an error.
func Manifests(cfg *platform.Config, docs io.Reader, w io.Writer) error {
	var handles []mcpv1alpha1.Handle
	var clients []mcpv1alpha1.OAuthClient
	dec := utilyaml.NewYAMLOrJSONDecoder(docs, 4096)
	for {
		var raw runtime.RawExtension
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("failed to read the manifests: %w", err)
		}
		raw.Raw = bytes.TrimSpace(raw.Raw)
		if len(raw.Raw) == 0 || string(raw.Raw) == "null" {
			continue
		}
		var meta struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(raw.Raw, &meta); err != nil {
			return fmt.Errorf("failed to read a manifest: %w", err)
		}
		if meta.APIVersion != mcpv1alpha1.GroupVersion.String() {
			return fmt.Errorf("%s %s: not a %s object", meta.APIVersion, meta.Kind, mcpv1alpha1.GroupVersion)
		}
		switch meta.Kind {
		case "Handle":
			var h mcpv1alpha1.Handle
			if err := yaml.UnmarshalStrict(raw.Raw, &h); err != nil {
				return fmt.Errorf("invalid Handle: %w", err)
			}
			handles = append(handles, h)
		case "OAuthClient":
			var c mcpv1alpha1.OAuthClient
			if err := yaml.UnmarshalStrict(raw.Raw, &c); err != nil {
				return fmt.Errorf("invalid OAuthClient: %w", err)
			}
			clients = append(clients, c)
		case "Toolset", "Connection":
		default:
			return fmt.Errorf("unknown kind %s", meta.Kind)
		}
	}
	sort.Slice(handles, func(i, j int) bool { return handles[i].Name < handles[j].Name })
	sort.Slice(clients, func(i, j int) bool { return clients[i].Name < clients[j].Name })

	objs, err := controllers.Render(cfg, scheme.New(), handles, clients)
	if err != nil {
		return err
	}
	for i, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("failed to print %s: %w", o.GetName(), err)
		}
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		if _, err := w.Write(stripEmpty(b)); err != nil {
			return err
		}
	}
	return nil
}

// stripEmpty drops the empty status and creation timestamp that typed
// objects always print: the operator never writes them.
func stripEmpty(b []byte) []byte {
	var m map[string]any
	if yaml.Unmarshal(b, &m) != nil {
		return b
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return b
	}
	return out
}
