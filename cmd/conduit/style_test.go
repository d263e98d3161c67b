package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestMessagesQuoteCommandsOneWay guards one quoting style for the commands
// and flags cmd/conduit's messages tell users to run: single quotes ('conduit
// ca init'), as most of them and every help text (raw strings, which cannot
// hold a backtick) use. A message in backticks or double quotes beside them
// reads as a different family.
func TestMessagesQuoteCommandsOneWay(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING || !strings.HasPrefix(lit.Value, `"`) {
				return true
			}
			if strings.Contains(lit.Value, "`conduit") || strings.Contains(lit.Value, `\"conduit`) {
				t.Errorf("%s: %s quotes a command with backticks or double quotes; use single quotes", fset.Position(lit.Pos()), lit.Value)
			}
			return true
		})
	}
}
