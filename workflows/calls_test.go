package workflows_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wmtna/referrals/workflows"
)

// parsePackage parses the workflow package's own (non-test) files.
func parsePackage(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// TestActivitiesAreCalledOnlyThroughTypedCalls keeps the typed calls the
// only way the workflows run an activity: a bare workflow.ExecuteActivity
// elsewhere would escape the contract the worker test checks.
func TestActivitiesAreCalledOnlyThroughTypedCalls(t *testing.T) {
	fset, files := parsePackage(t)
	for _, f := range files {
		if filepath.Base(fset.Position(f.Pos()).Filename) == "calls.go" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if ok && strings.HasPrefix(sel.Sel.Name, "Execute") && strings.HasSuffix(sel.Sel.Name, "Activity") {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "workflow" {
					t.Errorf("%s: workflow.%s outside calls.go; add a typed call there", fset.Position(sel.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
}

// TestContractNamesEveryActivityConstant holds the Activity* name constants
// and the declared contract to each other: no name without a typed call, no
// typed call under a name nobody can refer to, and no name twice.
func TestContractNamesEveryActivityConstant(t *testing.T) {
	_, files := parsePackage(t)
	var constants []string
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Activity") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s is not a string literal", name.Name)
					}
					v, _ := strconv.Unquote(lit.Value)
					constants = append(constants, v)
				}
			}
		}
	}
	var declared []string
	for _, s := range workflows.ActivityContract() {
		declared = append(declared, s.Name)
		if s.Arg == nil {
			t.Errorf("%s has no argument type", s.Name)
		}
	}
	slices.Sort(constants)
	slices.Sort(declared)
	if len(constants) == 0 || !slices.Equal(constants, declared) {
		t.Errorf("Activity* constants %v, contract %v: want the same names, once each", constants, declared)
	}
	if len(slices.Compact(slices.Clone(declared))) != len(declared) {
		t.Errorf("an activity is declared twice: %v", declared)
	}
}
