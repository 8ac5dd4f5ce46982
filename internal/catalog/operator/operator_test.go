package operator_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/multichat/mediapipe/"

// allowed are the packages that may make an Operator: the operations
// commands and page, the process assembly, and the demo command.
var allowed = map[string]bool{
	"internal/admin": true,
	"internal/cli":   true,
	"internal/app":   true,
	"internal/demo":  true,
}

// TestOnlyOperationsImportOperator: the queries over every cliente are
// reachable only through an Operator, and only the operations packages
// (and tests, and test helpers) import the package that makes one. The Go
// tools alone decide: `go list` of the module's non-test packages.
func TestOnlyOperationsImportOperator(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "./...")
	cmd.Dir = root
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errOut.String())
	}
	dec := json.NewDecoder(&out)
	importers := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		path := strings.TrimPrefix(p.ImportPath, module)
		for _, imp := range p.Imports {
			if imp != module+"internal/catalog/operator" {
				continue
			}
			importers++
			if !allowed[path] && !strings.HasSuffix(path, "test") {
				t.Errorf("%s imports internal/catalog/operator: only %v (and tests) may reach the queries over every cliente", path, slices.Sorted(maps.Keys(allowed)))
			}
		}
	}
	if importers == 0 {
		t.Error("no package imports internal/catalog/operator: is the module path right?")
	}
}
