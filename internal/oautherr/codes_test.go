package oautherr

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryCodeIsUsed keeps the set to the codes the product sends or
// reads: a constant no product file names has rotted.
func TestEveryCodeIsUsed(t *testing.T) {
	fset := token.NewFileSet()
	self, err := parser.ParseFile(fset, "codes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	unused := map[string]bool{}
	for name, obj := range self.Scope.Objects {
		if obj.Kind == ast.Con {
			unused[name] = true
		}
	}
	for _, dir := range []string{"runtime", "cmd", "internal", "controllers"} {
		err := filepath.WalkDir(filepath.Join("..", "..", dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "oautherr" {
						delete(unused, sel.Sel.Name)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(unused) > 0 {
		t.Errorf("no product code uses %v: remove them or use them", unused)
	}
}
