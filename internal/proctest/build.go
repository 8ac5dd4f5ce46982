package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MediapipePackage is the import path of the mediapipe command.
const MediapipePackage = "github.com/multichat/mediapipe/cmd/mediapipe"

// A Binary is a Go command that tests run as a subprocess.
type Binary struct {
	Name    string // the file name it is built as
	Package string // the import path `go build` builds
	// Env, when it names a variable set in the environment, gives a binary
	// built beforehand (to compare builds): Build takes the variable's
	// value as Path and builds nothing.
	Env string
	// Path is the executable, set by Build.
	Path string
}

// Build builds each binary with `go build` into one new temporary
// directory (os.MkdirTemp("", pattern)) and sets its Path; the go command's
// output goes to os.Stderr. It returns a function removing the directory.
// On an error nothing is left behind.
func Build(pattern string, bins ...*Binary) (cleanup func(), err error) {
	var todo []*Binary
	for _, b := range bins {
		if b.Env != "" {
			if p := os.Getenv(b.Env); p != "" {
				b.Path = p
				continue
			}
		}
		todo = append(todo, b)
	}
	if len(todo) == 0 {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return nil, err
	}
	for _, b := range todo {
		b.Path = filepath.Join(dir, b.Name)
		build := exec.Command("go", "build", "-o", b.Path, b.Package)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("building %s: %w", b.Name, err)
		}
	}
	return func() { os.RemoveAll(dir) }, nil
}

// Main is a package's TestMain: it builds bins (see Build), runs the tests,
// removes what it built and exits with the tests' code. When the build
// fails it prints why on os.Stderr and exits 1 without running a test.
func Main(m *testing.M, pattern string, bins ...*Binary) {
	cleanup, err := Build(pattern, bins...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}
