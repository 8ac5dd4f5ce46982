package config_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/config"
)

const (
	docsBegin = "<!-- config:begin -->"
	docsEnd   = "<!-- config:end -->"
)

// docsWithTable are the documents that carry config.Markdown() between the
// markers, relative to the repository root.
var docsWithTable = []string{"README.md", filepath.Join("docs", "OPERATIONS.md")}

// TestDocsListEveryVariable fails when a document's table differs from the
// one the code reads; UPDATE_CONFIG_DOCS=1 go test ./internal/config
// rewrites them.
func TestDocsListEveryVariable(t *testing.T) {
	t.Parallel()
	want := "\n\n" + config.Markdown() + "\n"
	for _, doc := range docsWithTable {
		path := filepath.Join("..", "..", doc)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		text := string(b)
		require.Equal(t, 1, strings.Count(text, docsBegin), "%s: one %s", doc, docsBegin)
		require.Equal(t, 1, strings.Count(text, docsEnd), "%s: one %s", doc, docsEnd)
		i := strings.Index(text, docsBegin) + len(docsBegin)
		j := strings.Index(text, docsEnd)
		require.Less(t, i, j, "%s: %s comes before %s", doc, docsBegin, docsEnd)
		if text[i:j] == want {
			continue
		}
		if os.Getenv("UPDATE_CONFIG_DOCS") == "1" {
			require.NoError(t, os.WriteFile(path, []byte(text[:i]+want+text[j:]), 0o644))
			t.Logf("%s: configuration table rewritten", doc)
			continue
		}
		t.Errorf("%s: the configuration table differs from internal/config's; run UPDATE_CONFIG_DOCS=1 go test ./internal/config", doc)
	}
}

// otherPrograms are the variables the deployment files name that belong to
// other programs, not to mediapipe: a name here must not be in the table,
// and must still be used somewhere under deploy/.
var otherPrograms = map[string]string{
	"POSTGRES_DB":             "the postgres image (compose)",
	"POSTGRES_USER":           "the postgres image (compose)",
	"POSTGRES_PASSWORD":       "the postgres image, and compose's .env",
	"GRAFANA_ADMIN_PASSWORD":  "compose's .env, for Grafana",
	"S3_ACCESS_KEY":           "compose's .env: versitygw's key, passed to mediapipe as AWS_ACCESS_KEY_ID",
	"S3_SECRET_KEY":           "compose's .env: versitygw's secret, passed to mediapipe as AWS_SECRET_ACCESS_KEY",
	"EDGE_PORT":               "compose's .env: the edge's published port",
	"COMPOSE_SUBNET":          "compose's .env: the compose network",
	"MEDIAPIPE_IMAGE":         "compose: the image to run",
	"ROOT_ACCESS_KEY_ID":      "versitygw",
	"ROOT_SECRET_ACCESS_KEY":  "versitygw",
	"ADMIN_ACCESS_KEY_ID":     "versitygw's admin command",
	"ADMIN_SECRET_ACCESS_KEY": "versitygw's admin command",
	"VGW_HEALTH":              "versitygw",
	"SERVER_NAME":             "nats.conf (compose)",
	"NATS_SYS_PASSWORD":       "the NATS chart's system account",
	"G":                       "not a variable: NATS's global account, $G, in KEDA's triggers",
}

// otherPrefixes are whole families of other programs' variables.
var otherPrefixes = map[string]string{"GF_": "Grafana"}

var (
	// A name with an underscore anywhere (FOO_BAR), ...
	capsName = regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b`)
	// ... and one without, where only a variable goes: a Kubernetes env
	// entry, a key of a map (ConfigMap data, compose environment, Helm
	// config), an assignment, an interpolation.
	envName = regexp.MustCompile(`(?m)^\s*-?\s*name:\s*["']?([A-Z][A-Z0-9_]*)["']?\s*$|^\s*["']?([A-Z][A-Z0-9_]*)["']?\s*[:=]|\$\{?([A-Z][A-Z0-9_]*)`)
)

// deployNames returns the variable-like names of every deployment file
// (deploy/ but its Go code, and the image's ENV), with where each is.
func deployNames(t *testing.T) map[string]string {
	t.Helper()
	names := map[string]string{}
	add := func(where string, text []byte) {
		for _, m := range capsName.FindAll(text, -1) {
			names[string(m)] = where
		}
		for _, m := range envName.FindAllSubmatch(text, -1) {
			for _, g := range m[1:] {
				if len(g) > 0 {
					names[string(g)] = where
				}
			}
		}
	}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(filepath.Join(root, "deploy"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".go", ".mod", ".sum":
			return nil // deploy/validate's code, which names wrong variables on purpose
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		add(rel, b)
		return nil
	})
	require.NoError(t, err)
	// The runtime image's ENV (the stage after the last FROM).
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	if i := bytes.LastIndex(b, []byte("\nFROM ")); i >= 0 {
		b = b[i:]
	}
	for _, env := range regexp.MustCompile(`(?m)^ENV\s+((?:.*\\\n)*.*)`).FindAll(b, -1) {
		for _, m := range regexp.MustCompile(`([A-Z][A-Z0-9_]*)=`).FindAllSubmatch(env, -1) {
			names[string(m[1])] = "Dockerfile"
		}
	}
	return names
}

// TestDeployNamesAreKnown fails when a deployment file sets a variable the
// table does not list (a misspelling, a retired name, a new setting
// without its row), unless it belongs to another program listed above.
func TestDeployNamesAreKnown(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	for _, v := range config.Vars() {
		known[v.Name] = true
	}
	for name := range otherPrograms {
		require.False(t, known[name], "%s is mediapipe's: take it out of otherPrograms", name)
	}
	names := deployNames(t)
	require.Contains(t, names, "DATABASE_URL", "the scan finds the variables")
	require.Contains(t, names, "GOMEMLIMIT", "the scan finds names without an underscore")
	var unknown []string
	for name, where := range names {
		if known[name] || otherPrograms[name] != "" {
			continue
		}
		other := false
		for p := range otherPrefixes {
			other = other || strings.HasPrefix(name, p)
		}
		if !other {
			unknown = append(unknown, name+" ("+where+")")
		}
	}
	sort.Strings(unknown)
	require.Empty(t, unknown, "variables in deploy/ that internal/config's table does not list: add them to the table (vars.go), or to otherPrograms if another program reads them")
	for name := range otherPrograms {
		require.Contains(t, names, name, "otherPrograms lists %s, which deploy/ no longer names: drop it", name)
	}
}
