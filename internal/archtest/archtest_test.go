// Package archtest checks the shape of the module with the Go tools alone
// (`go list`): which package may import which, and that the package graph in
// docs/ARCHITECTURE.md is the real one.
package archtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/multichat/mediapipe"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// list runs `go list -json -deps=false ./...` from the module root and
// returns the non-test packages by import path.
func list(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root(t)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errOut.String())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func short(path string) string { return strings.TrimPrefix(path, module+"/") }

// TestLayering checks the rules of docs/ARCHITECTURE.md: the catalogue does
// not delete files, SQL error codes are read only inside the catalogue,
// and pkg/ imports nothing of internal/.
func TestLayering(t *testing.T) {
	pkgs := list(t)
	roles := []string{"internal/ingest", "internal/analyzer", "internal/downloader", "internal/api",
		"internal/admin", "internal/cli", "internal/app", "internal/bus", "internal/fetch"}
	for _, r := range roles {
		p, ok := pkgs[module+"/"+r]
		if !ok {
			t.Errorf("%s: no such package", r)
			continue
		}
		if slices.Contains(p.Deps, "github.com/jackc/pgx/v5/pgconn") && !slices.Contains(p.Deps, module+"/internal/catalog") {
			t.Errorf("%s reaches pgconn without the catalogue", r)
		}
		if slices.Contains(p.Imports, "github.com/jackc/pgx/v5/pgconn") {
			t.Errorf("%s imports pgconn: SQLSTATE classification belongs to internal/catalog", r)
		}
	}
	if slices.Contains(pkgs[module+"/internal/catalog"].Deps, module+"/internal/blob") {
		t.Errorf("internal/catalog depends on internal/blob: file deletion is orchestrated outside the SQL package")
	}
	for path, p := range pkgs {
		if !strings.HasPrefix(short(path), "pkg/") {
			continue
		}
		for _, d := range p.Deps {
			if strings.HasPrefix(d, module+"/internal/") {
				t.Errorf("%s depends on %s: pkg/ must stand alone", short(path), short(d))
			}
		}
	}
}

// graph renders the module's own import graph: one line per package with
// the module packages it imports directly (commands, libraries and
// internals; test-only helpers left out).
func graph(pkgs map[string]pkg) string {
	var paths []string
	for path := range pkgs {
		s := short(path)
		if strings.HasPrefix(s, "deploy/") || strings.HasSuffix(s, "test") || s == "migrations" {
			continue
		}
		paths = append(paths, path)
	}
	slices.Sort(paths)
	var b strings.Builder
	for _, path := range paths {
		var deps []string
		for _, imp := range pkgs[path].Imports {
			if s := short(imp); s != imp && !strings.HasSuffix(s, "test") {
				deps = append(deps, s)
			}
		}
		slices.Sort(deps)
		if len(deps) == 0 {
			fmt.Fprintf(&b, "%s\n", short(path))
			continue
		}
		fmt.Fprintf(&b, "%s → %s\n", short(path), strings.Join(deps, ", "))
	}
	return b.String()
}

const (
	graphBegin = "<!-- package graph: begin (generated; UPDATE_ARCH_GRAPH=1 go test ./internal/archtest) -->\n```\n"
	graphEnd   = "```\n<!-- package graph: end -->"
)

// TestPackageGraphIsDocumented checks that docs/ARCHITECTURE.md shows the
// real package graph. UPDATE_ARCH_GRAPH=1 rewrites it.
func TestPackageGraphIsDocumented(t *testing.T) {
	doc := filepath.Join(root(t), "docs", "ARCHITECTURE.md")
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i, j := strings.Index(text, graphBegin), strings.Index(text, graphEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/ARCHITECTURE.md has no package graph block (%q … %q)", graphBegin, graphEnd)
	}
	want := graph(list(t))
	got := text[i+len(graphBegin) : j]
	if got == want {
		return
	}
	if os.Getenv("UPDATE_ARCH_GRAPH") != "" {
		text = text[:i+len(graphBegin)] + want + text[j:]
		if err := os.WriteFile(doc, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the package graph in docs/ARCHITECTURE.md is stale: run UPDATE_ARCH_GRAPH=1 go test ./internal/archtest\nwant:\n%s", want)
}
