package validate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// repo is the repository root, relative to this package.
const repo = "../.."

func repoPath(parts ...string) string {
	return filepath.Join(append([]string{repo}, parts...)...)
}

func readRepoFile(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(repoPath(parts...))
	if err != nil {
		t.Fatalf("reading %s: %v", filepath.Join(parts...), err)
	}
	return string(b)
}

var (
	envOnce  sync.Once
	envNames map[string]bool
	envErr   error
)

// runtimeEnv are variables read by the Go runtime and standard library,
// not by mediapipe's configuration (SSL_CERT_DIR adds a private CA, e.g.
// NATS's, to the system roots: deploy/README.md).
var runtimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true, "GODEBUG": true,
	"SSL_CERT_DIR": true, "SSL_CERT_FILE": true}

// knownEnv returns every environment variable mediapipe reads, from the
// table of its configuration (internal/config/vars.go), so that a
// manifest setting a misspelled or retired name fails here.
func knownEnv(t *testing.T) map[string]bool {
	t.Helper()
	envOnce.Do(func() {
		b, err := os.ReadFile(repoPath("internal", "config", "vars.go"))
		if err != nil {
			envErr = err
			return
		}
		envNames = map[string]bool{}
		// The Name of each row of the table.
		for _, m := range regexp.MustCompile(`\bName:\s*"([A-Z][A-Z0-9_]*)"`).FindAllStringSubmatch(string(b), -1) {
			envNames[m[1]] = true
		}
		for _, must := range []string{"DATABASE_URL", "NATS_URL", "HTTP_ADDR", "MEDIA_DIR", "MEDIA_STORE", "STREAM_REPLICAS", "DOWNLOAD_WORKERS"} {
			if !envNames[must] {
				envErr = fmt.Errorf("internal/config/vars.go no longer lists %s the way this check expects: update knownEnv", must)
			}
		}
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return envNames
}

// checkEnvName reports a variable mediapipe does not read.
func checkEnvName(t *testing.T, where, name string) error {
	if knownEnv(t)[name] || runtimeEnv[name] || storeEnv[name] {
		return nil
	}
	known := make([]string, 0, len(knownEnv(t)))
	for k := range knownEnv(t) {
		known = append(known, k)
	}
	sort.Strings(known)
	return fmt.Errorf("%s: environment variable %s is not read by mediapipe (internal/config/vars.go lists %s)", where, name, strings.Join(known, ", "))
}

var (
	constOnce sync.Once
	consts    map[string]string
)

// busConst returns a string constant of internal/bus/topology.go (stream
// and consumer names), so that the KEDA triggers name what the code declares.
func busConst(t *testing.T, name string) string {
	t.Helper()
	constOnce.Do(func() {
		consts = map[string]string{}
		b, err := os.ReadFile(repoPath("internal", "bus", "topology.go"))
		if err != nil {
			t.Fatalf("reading internal/bus/topology.go: %v", err)
		}
		for _, m := range regexp.MustCompile(`(?m)^\s*([A-Za-z]\w*)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(string(b), -1) {
			consts[m[1]] = m[2]
		}
	})
	v, ok := consts[name]
	if !ok {
		t.Fatalf("internal/bus/topology.go has no constant %s", name)
	}
	return v
}

// report fails the test with every problem, one per line.
func report(t *testing.T, what string, errs []error) {
	t.Helper()
	if err := errors.Join(errs...); err != nil {
		t.Errorf("%s: %d problem(s):\n%v", what, len(errs), err)
	}
}
