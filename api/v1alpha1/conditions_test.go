package v1alpha1_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/10xdotin/mcp-handle-operator/api/v1alpha1"
)

// declaredReason is one reason constant of conditions.go.
type declaredReason struct {
	name, kind, value, doc string
}

// declaredReasons parses conditions.go for its {Kind}Reason* constants.
func declaredReasons(t *testing.T) []declaredReason {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "conditions.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var out []declaredReason
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			kind, _, ok := strings.Cut(v.Names[0].Name, "Reason")
			if !ok {
				continue
			}
			value, err := strconv.Unquote(v.Values[0].(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, declaredReason{name: v.Names[0].Name, kind: kind, value: value, doc: v.Doc.Text()})
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d reasons in conditions.go", len(out))
	}
	return out
}

// TestReasonsAreSet checks that every declared reason is used by the code
// of the operator or the runtime (not only by tests), so none is documented
// and never set.
func TestReasonsAreSet(t *testing.T) {
	var code strings.Builder
	for _, dir := range []string{"controllers", "runtime", "cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join("..", "..", dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			code.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range declaredReasons(t) {
		if !regexp.MustCompile(`\bmcpv1alpha1\.` + r.name + `\b`).MatchString(code.String()) {
			t.Errorf("%s is declared but no code of the operator or the runtime sets it", r.name)
		}
	}
}

// TestReasonSeverities checks that each reason's comment states the severity
// Benign gives it, and the events that follow from it.
func TestReasonSeverities(t *testing.T) {
	for _, r := range declaredReasons(t) {
		benign, warning := strings.Contains(r.doc, "(benign"), strings.Contains(r.doc, "(warning")
		if benign != mcpv1alpha1.Benign(r.value) || benign && warning {
			t.Errorf("%s: its comment says benign %v, warning %v; Benign(%q) is %v", r.name, benign, warning, r.value, mcpv1alpha1.Benign(r.value))
		}
	}
	for _, c := range []struct {
		status metav1.ConditionStatus
		reason string
		want   bool
	}{
		// A new handle whose toolset is not checked yet is waiting.
		{metav1.ConditionFalse, mcpv1alpha1.HandleReasonToolsetPending, false},
		{metav1.ConditionFalse, mcpv1alpha1.HandleReasonSuspended, false},
		{metav1.ConditionUnknown, mcpv1alpha1.HandleReasonPending, false},
		{metav1.ConditionFalse, mcpv1alpha1.HandleReasonToolsetUnreachable, true},
		{metav1.ConditionFalse, mcpv1alpha1.OAuthClientReasonHandleNotFound, true},
		// Mirrored from the Gateway implementation.
		{metav1.ConditionFalse, "NotAllowedByListeners", true},
		{metav1.ConditionTrue, mcpv1alpha1.HandleReasonReady, false},
	} {
		if got := mcpv1alpha1.Warning(metav1.Condition{Status: c.status, Reason: c.reason}); got != c.want {
			t.Errorf("Warning(%s/%s) = %v, want %v", c.status, c.reason, got, c.want)
		}
	}
}

// TestReasonsDocumented checks docs/api.md's table of reasons against the
// declared ones: the same kinds, reasons and severities.
func TestReasonsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	// | `Handle` | `Serving`, `Ready` | `ToolsetPending` | benign | ... |
	row := regexp.MustCompile("(?m)^\\| `(\\w+)` \\| [^|]* \\| `(\\w+)` \\| (benign|warning|—) \\|")
	var documented []string
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		documented = append(documented, m[1]+"/"+m[2]+"/"+m[3])
	}
	var declared []string
	for _, r := range declaredReasons(t) {
		severity := "—"
		switch {
		case mcpv1alpha1.Benign(r.value):
			severity = "benign"
		case strings.Contains(r.doc, "(warning"):
			severity = "warning"
		}
		declared = append(declared, r.kind+"/"+r.value+"/"+severity)
	}
	slices.Sort(documented)
	slices.Sort(declared)
	if !slices.Equal(documented, declared) {
		t.Errorf("docs/api.md documents the reasons\n%s\nconditions.go declares\n%s", strings.Join(documented, "\n"), strings.Join(declared, "\n"))
	}
}
