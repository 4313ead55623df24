package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/orthotune/orthotune/peft"
)

// TestCommandNamesNoMethod: the commands know the fine-tuning methods
// only through the peft registry. No file of this package (tests
// included) imports a method package other than blank (for its
// registration), and none selects from an identifier named like a
// registered method, which is how code reaching into one would read.
func TestCommandNamesNoMethod(t *testing.T) {
	methods := map[string]bool{}
	for _, name := range peft.MethodNames() {
		methods[name] = true
	}
	if len(methods) == 0 {
		t.Fatal("no method is registered: the check would pass whatever the package does")
	}
	// The method packages live under the peft package.
	methodPkgs := reflect.TypeFor[peft.Method]().PkgPath() + "/"

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no Go files in the package directory")
	}
	fset := token.NewFileSet()
	blank := 0
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", fset.Position(imp.Pos()), imp.Path.Value, err)
			}
			if !strings.HasPrefix(p, methodPkgs) {
				continue
			}
			if imp.Name != nil && imp.Name.Name == "_" {
				blank++
				continue
			}
			t.Errorf("%s: imports the method package %q; import it blank (_) and use it through the peft registry", fset.Position(imp.Pos()), p)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && methods[x.Name] {
					t.Errorf("%s: %s.%s names the method %q; reach methods through the peft registry", fset.Position(sel.Pos()), x.Name, sel.Sel.Name, x.Name)
				}
			}
			return true
		})
	}
	if blank == 0 {
		t.Errorf("no file blank-imports a package under %s, yet %v are registered: the check looks in the wrong place", methodPkgs, peft.MethodNames())
	}
}
