package validate

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with continuation lines joined.
type instruction struct {
	cmd, args string
	stage     int // 0-based index of the FROM it belongs to
}

func parseDockerfile(t *testing.T) ([]instruction, map[string]string) {
	t.Helper()
	var out []instruction
	args := map[string]string{} // ARG defaults declared before the first FROM
	stage := -1
	var cur string
	for _, line := range strings.Split(readRepoFile(t, "Dockerfile"), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		cur += trimmed
		cmd, rest, _ := strings.Cut(cur, " ")
		cur = ""
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		if cmd == "ARG" && stage < 0 {
			if k, v, ok := strings.Cut(strings.TrimSpace(rest), "="); ok {
				args[k] = v
			}
		}
		out = append(out, instruction{cmd: cmd, args: strings.TrimSpace(rest), stage: stage})
	}
	return out, args
}

// TestDockerfile checks the image recipe: multi-stage, a static binary built
// with the Go version of go.mod, a minimal base, a non-root user (the uid
// the Kubernetes manifests require), exec-form entrypoint and health check,
// and that the build copies every package the binaries need.
func TestDockerfile(t *testing.T) {
	ins, args := parseDockerfile(t)
	var froms []instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, in)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("%d stages: want a build stage and a minimal runtime stage", len(froms))
	}
	last := len(froms) - 1
	goMod := readRepoFile(t, "go.mod")
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(goMod)
	if goVersion == nil || args["GO_VERSION"] != goVersion[1] {
		t.Errorf("ARG GO_VERSION=%s, go.mod says go %v", args["GO_VERSION"], goVersion)
	}
	if !strings.Contains(froms[0].args, "golang:${GO_VERSION}") {
		t.Errorf("build stage FROM %s: want golang:${GO_VERSION}", froms[0].args)
	}
	runtime := froms[last].args
	if strings.HasPrefix(runtime, "${") {
		runtime = args[strings.Trim(runtime, "${}")]
	}
	if !strings.HasPrefix(runtime, "gcr.io/distroless/static") && runtime != "scratch" {
		t.Errorf("runtime base %q: want distroless static or scratch", runtime)
	}
	var (
		user, entrypoint, healthcheck string
		cgoOff                        bool
		copied                        []string
	)
	for _, in := range ins {
		switch {
		case in.stage == last && in.cmd == "USER":
			user = in.args
		case in.stage == last && in.cmd == "ENTRYPOINT":
			entrypoint = in.args
		case in.stage == last && in.cmd == "HEALTHCHECK":
			healthcheck = in.args
		case in.stage == 0 && in.cmd == "ENV" && strings.Contains(in.args, "CGO_ENABLED=0"):
			cgoOff = true
		case in.stage == 0 && in.cmd == "COPY" && !strings.HasPrefix(in.args, "--from"):
			f := strings.Fields(in.args)
			copied = append(copied, f[:len(f)-1]...)
		}
	}
	if uid, _, _ := strings.Cut(user, ":"); uid != "65532" {
		t.Errorf("USER %q: want the numeric non-root uid 65532 the manifests' runAsUser names", user)
	}
	if entrypoint != `["/usr/local/bin/mediapipe"]` {
		t.Errorf("ENTRYPOINT %s: want exec form [\"/usr/local/bin/mediapipe\"] (signals reach the process)", entrypoint)
	}
	if !strings.Contains(healthcheck, `CMD ["/usr/local/bin/probe"`) {
		t.Errorf("HEALTHCHECK %q: want the probe binary in exec form", healthcheck)
	}
	if !cgoOff {
		t.Error("the build stage does not set CGO_ENABLED=0: the binary would not be static")
	}

	// Every package the two binaries build from lies under a COPY'd path.
	list := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/mediapipe", "./deploy/probe")
	list.Dir = repo
	outb, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, _ := filepath.Abs(repo)
	for _, dir := range strings.Fields(string(outb)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module dependency
		}
		rel = filepath.ToSlash(rel) + "/"
		if !slices.ContainsFunc(copied, func(c string) bool { return strings.HasPrefix(rel, strings.TrimPrefix(c, "./")) }) {
			t.Errorf("package %s is not copied into the build stage (COPY %v)", rel, copied)
		}
	}
	for _, c := range []string{"go.mod", "go.sum"} {
		if !slices.Contains(copied, c) {
			t.Errorf("%s is not copied", c)
		}
	}

	// .dockerignore keeps local state and the repository out, and what the
	// Dockerfile copies in.
	ignore := strings.Fields(readRepoFile(t, ".dockerignore"))
	for _, must := range []string{".git", "data/"} {
		if !slices.Contains(ignore, must) {
			t.Errorf(".dockerignore does not exclude %s", must)
		}
	}
	for _, c := range copied {
		for _, ig := range ignore {
			if !strings.HasPrefix(ig, "#") && !strings.Contains(ig, "*") && strings.HasPrefix(strings.TrimSuffix(c, "/")+"/", strings.TrimSuffix(ig, "/")+"/") {
				t.Errorf(".dockerignore excludes %s, which the Dockerfile copies", c)
			}
		}
	}
}
