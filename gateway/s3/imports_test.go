package s3

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoStoreImplementationImports: the handlers speak only to the
// store interfaces, so that the network backend replaces the local one
// without touching them. A handler importing an implementation (for a
// helper, a type or a file path) fails here.
func TestNoStoreImplementationImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/datdot/datdot/gateway/store/") || path == "path/filepath" {
				t.Errorf("%s imports %s: handlers must use only gateway/store's interfaces", f, path)
			}
		}
	}
}
