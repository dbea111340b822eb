package mmapring

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// faultMarkers are the calls that make a test a fault test: it kills or
// stops a process, or writes into a mapping the state a kill (or a hostile
// peer) leaves behind.
var faultMarkers = map[string]bool{
	"Kill": true, "Signal": true, "kill": true,
	"deadSlot": true, "setCell": true, "setPositions": true, "truncateUnder": true, "flipPayload": true,
}

// TestFaultTestsRunEveryPeer makes parity a rule: every test in this
// package that injects a fault must run its survivors (or victims) as both
// a Go and a C peer, through forEachPeer, so the C header can never fall
// behind the Go package again.
func TestFaultTestsRunEveryPeer(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	funcs := map[string]*ast.FuncDecl{}
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				funcs[fd.Name.Name] = fd
			}
		}
	}
	// calls returns the names of the functions fn calls, following calls
	// to this package's own test helpers (not into the harness itself,
	// which kills what it started when a test ends).
	harness := map[string]bool{"startPeer": true, "startPeerCmd": true, "runPeer": true,
		"forEachPeer": true, "cPeerKind": true}
	var calls func(fn string, seen map[string]bool) map[string]bool
	calls = func(fn string, seen map[string]bool) map[string]bool {
		if seen[fn] || funcs[fn] == nil || harness[fn] {
			return seen
		}
		seen[fn] = true
		ast.Inspect(funcs[fn], func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			switch f := c.Fun.(type) {
			case *ast.Ident:
				calls(f.Name, seen)
				seen[f.Name] = true
			case *ast.SelectorExpr:
				seen[f.Sel.Name] = true
			}
			return true
		})
		return seen
	}
	checked := 0
	for name := range funcs {
		if !strings.HasPrefix(name, "Test") || name == "TestFaultTestsRunEveryPeer" {
			continue
		}
		called := calls(name, map[string]bool{})
		fault := strings.HasPrefix(name, "TestFault")
		for m := range faultMarkers {
			if called[m] {
				fault = true
			}
		}
		if !fault {
			continue
		}
		checked++
		if !called["forEachPeer"] {
			t.Errorf("%s injects a fault but does not run every peer kind (use forEachPeer)", name)
		}
	}
	if checked < 10 {
		t.Fatalf("only %d fault tests found: the rule is not looking at the right files", checked)
	}
}
