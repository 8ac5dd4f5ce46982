package validate

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

var (
	minOnce sync.Once
	minVer  [3]int
	minErr  error
)

// minNATSVersion is the oldest NATS server mediapipe accepts, read from
// internal/bus (MinServerVersion: mediapipe refuses to run against an
// older one), so the oldest image a deployment may pin.
func minNATSVersion(t *testing.T) [3]int {
	t.Helper()
	minOnce.Do(func() {
		files, err := filepath.Glob(repoPath("internal", "bus", "*.go"))
		if err != nil {
			minErr = err
			return
		}
		re := regexp.MustCompile(`MinServerVersion\s*=\s*"(\d+)\.(\d+)\.(\d+)"`)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				minErr = err
				return
			}
			if m := re.FindSubmatch(b); m != nil {
				for i := range minVer {
					minVer[i], _ = strconv.Atoi(string(m[i+1]))
				}
				return
			}
		}
		minErr = fmt.Errorf("internal/bus declares no MinServerVersion = \"x.y.z\": update minNATSVersion")
	})
	if minErr != nil {
		t.Fatal(minErr)
	}
	return minVer
}

// natsCredentialVars are the variables that carry the NATS credentials:
// the servers accept them (authorization), the mediapipe processes send
// them.
var natsCredentialVars = []string{"NATS_USER", "NATS_PASSWORD"}

// samplePassword has the shape the documentation generates ("n" and 48 hex
// digits): NATS reads an environment variable as a configuration token, so
// the shape must survive that as the very same string.
const samplePassword = "n0123456789abcdef0123456789abcdef0123456789abcdef"

// natsImageVersion checks that a NATS image reference pins a release tag
// (nats:2.15.2-alpine) of at least oldest and returns the version.
func natsImageVersion(image string, oldest [3]int) (string, error) {
	name, tag := splitImage(image)
	if name != "nats" && !strings.HasSuffix(name, "/nats") {
		return "", fmt.Errorf("image %q is not NATS's official image", image)
	}
	m := regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)(?:-[a-z0-9.]+)?$`).FindStringSubmatch(tag)
	if m == nil {
		return "", fmt.Errorf("image %q: pin a release tag (2.x.y or 2.x.y-alpine) so the server version is known", image)
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	if slices.Compare(v[:], oldest[:]) < 0 {
		return "", fmt.Errorf("image %q: NATS %d.%d.%d is older than %d.%d.%d, which mediapipe refuses", image, v[0], v[1], v[2], oldest[0], oldest[1], oldest[2])
	}
	return strings.Join(m[1:4], "."), nil
}

func TestNATSImageVersion(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		image string
		ok    bool
	}{
		{"nats:2.15.2-alpine", true},
		{"nats:2.10.0", true},
		{"docker.io/library/nats:2.11.4-alpine", true},
		{"nats:3.0.0", true},
		{"nats:2.9.25-alpine", false}, // Debian 12's packaged server is 2.9.10
		{"nats:1.4.1", false},
		{"nats:latest", false},
		{"nats:2.15-alpine", false},
		{"nats", false},
		{"nats@sha256:0123", false},
		{"bitnami/redis:7.2.0", false},
	} {
		if _, err := natsImageVersion(c.image, [3]int{2, 10, 0}); (err == nil) != c.ok {
			t.Errorf("%s: accepted %v, want %v (%v)", c.image, err == nil, c.ok, err)
		}
	}
}

// checkAuthOpts reports a NATS configuration that lets a client in without
// credentials: every client must authenticate as a user with a password
// (or an nkey), and no user may be the anonymous default.
func checkAuthOpts(what string, o *server.Options) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(what+": "+format, a...)) }
	switch {
	case o.Username != "":
		if o.Password == "" {
			add("authorization user %q has no password", o.Username)
		}
	case len(o.Users) > 0:
		for _, u := range o.Users {
			if u.Password == "" {
				add("user %q has no password", u.Username)
			}
		}
	case len(o.Nkeys) > 0, o.TrustedOperators != nil:
	default:
		add("no authorization: any client that reaches the port reads every webhook and can publish forged ones")
	}
	if o.NoAuthUser != "" {
		add("no_auth_user %q lets clients in without credentials", o.NoAuthUser)
	}
	if o.Authorization != "" {
		add("a bare token: use a user and password (NATS_USER, NATS_PASSWORD)")
	}
	return errs
}

// startNATS runs a NATS server with the given options on loopback (no
// cluster, a temporary store, random ports) so that a test can talk to it.
func startNATS(t *testing.T, o *server.Options) string {
	t.Helper()
	o.Host, o.Port = "127.0.0.1", -1
	o.HTTPHost, o.HTTPPort = "127.0.0.1", -1
	o.Cluster = server.ClusterOpts{}
	o.Routes = nil
	o.ServerName = "validate"
	o.StoreDir = t.TempDir()
	o.NoLog, o.NoSigs = true, true
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatalf("starting NATS with the deployment's configuration: %v", err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready for connections within 10 s")
	}
	return s.Addr().String()
}

// natsSession speaks NATS's text protocol: CONNECT with the given
// credentials (none when user is empty), then the commands; it returns
// what the server sent until a line containing until, an -ERR, or the end
// of the connection.
func natsSession(t *testing.T, addr, user, pass, until string, cmds ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if info, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(info, "INFO ") {
		t.Fatalf("no INFO from the server: %q %v", info, err)
	}
	connect := map[string]any{"verbose": false, "pedantic": false, "protocol": 1, "headers": true, "no_responders": true}
	if user != "" {
		connect["user"], connect["pass"] = user, pass
	}
	b, err := json.Marshal(connect)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("CONNECT " + string(b) + "\r\n" + strings.Join(cmds, ""))); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for {
		line, err := r.ReadString('\n')
		out.WriteString(line)
		if err != nil || strings.Contains(line, until) || strings.HasPrefix(line, "-ERR") {
			return out.String()
		}
	}
}

// proveAuth shows on a running server that a client without credentials
// or with a wrong password is refused before it can subscribe or publish,
// and that the right credentials reach JetStream (the global account keeps
// it).
func proveAuth(t *testing.T, addr, user, pass string) {
	t.Helper()
	// JetStream's account info, requested with the inbox subscribed first.
	jsInfo := []string{"SUB _INBOX.validate 1\r\n", "PUB $JS.API.INFO _INBOX.validate 0\r\n\r\n"}
	for _, c := range []struct {
		name, user, pass string
	}{
		{"no credentials", "", ""},
		{"wrong password", user, pass + "x"},
		{"unknown user", "intruder", pass},
	} {
		got := natsSession(t, addr, c.user, c.pass, "-ERR", append([]string{"SUB webhooks.> 2\r\n", "PUB webhooks.wapi.forged 2\r\n{}\r\n"}, jsInfo...)...)
		if !strings.Contains(got, "-ERR 'Authorization Violation'") || strings.Contains(got, "MSG ") {
			t.Errorf("%s: the server did not refuse the client: %q", c.name, got)
		}
	}
	got := natsSession(t, addr, user, pass, "account_info_response", jsInfo...)
	if !strings.Contains(got, "io.nats.jetstream.api.v1.account_info_response") || strings.Contains(got, `"error"`) || strings.Contains(got, "-ERR") {
		t.Errorf("with the credentials: no JetStream account info: %q", got)
	}
}

// TestComposeNATSAuth starts a NATS server from deploy/compose/nats.conf
// (with NATS's own parser and server, as each compose service loads it; the
// cluster left out) and proves that it requires the credentials of the
// compose file's environment, that it refuses to start without them, and
// that the documented password shape reaches the server unchanged.
func TestComposeNATSAuth(t *testing.T) {
	conf := repoPath("deploy", "compose", "nats.conf")
	t.Setenv("SERVER_NAME", "nats-1")
	t.Setenv("NATS_USER", "mediapipe")
	for _, v := range natsCredentialVars {
		t.Run("without "+v, func(t *testing.T) {
			old := os.Getenv(v)
			os.Unsetenv(v)
			defer os.Setenv(v, old)
			if _, err := server.ProcessConfigFile(conf); err == nil {
				t.Errorf("nats.conf loads without %s: it must come from the environment, not a default", v)
			}
		})
	}
	t.Setenv("NATS_PASSWORD", samplePassword)
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	if err := errors.Join(checkAuthOpts("nats.conf", o)...); err != nil {
		t.Fatal(err)
	}
	if o.Username != "mediapipe" || o.Password != samplePassword {
		t.Errorf("nats.conf: user %q password %q, want NATS_USER and NATS_PASSWORD unchanged", o.Username, o.Password)
	}
	proveAuth(t, startNATS(t, o), "mediapipe", samplePassword)
}

// renderChartConfig writes what the nats chart renders for config.merge (its
// nats.formatConfig: JSON with "<< X >>" unquoted) plus a JetStream block,
// and loads it with NATS's own parser under the given environment.
func renderChartConfig(t *testing.T, merge map[string]any, env map[string]string) (*server.Options, error) {
	t.Helper()
	cfg := map[string]any{"jetstream": map[string]any{"store_dir": t.TempDir()}}
	for k, v := range merge {
		cfg[k] = v
	}
	var b strings.Builder // toPrettyRawJson: no HTML escaping of << >>
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`"<<\s+(.*?)\s+>>"`).ReplaceAllString(b.String(), "$1")
	f := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	return server.ProcessConfigFile(f)
}

// TestNATSHelmAuth starts a NATS server with config.merge of
// deploy/k8s/nats/values.yaml rendered as the chart renders it, the
// credentials in the environment as the chart's container.env puts them,
// and proves the same as TestComposeNATSAuth.
func TestNATSHelmAuth(t *testing.T) {
	merge, _ := loadNATSValues(t).get("config.merge")
	m, _ := merge.(map[string]any)
	o, err := renderChartConfig(t, m, map[string]string{"NATS_USER": "mediapipe", "NATS_PASSWORD": samplePassword})
	if err != nil {
		t.Fatalf("config.merge as the chart renders it: %v", err)
	}
	if o.Password != samplePassword {
		t.Errorf("password %q reached the server, want %q", o.Password, samplePassword)
	}
	proveAuth(t, startNATS(t, o), "mediapipe", samplePassword)
}

// TestNATSProbeSeesAnOpenServer: the checks above can fail. A server
// without authorization is named by checkAuthOpts, and the probe's
// anonymous client gets JetStream's answer from it.
func TestNATSProbeSeesAnOpenServer(t *testing.T) {
	o := &server.Options{JetStream: true}
	if err := errors.Join(checkAuthOpts("open", o)...); err == nil || !strings.Contains(err.Error(), "no authorization") {
		t.Errorf("checkAuthOpts on a server without authorization: %v", err)
	}
	got := natsSession(t, startNATS(t, o), "", "", "account_info_response", "SUB _INBOX.validate 1\r\n", "PUB $JS.API.INFO _INBOX.validate 0\r\n\r\n")
	if !strings.Contains(got, "account_info_response") {
		t.Errorf("an anonymous client of an open server got %q", got)
	}
}

// TestNATSImagesAgree: the compose file and the Helm values run the same
// NATS release, of the minor version mediapipe embeds (go.mod), which its
// tests run against.
func TestNATSImagesAgree(t *testing.T) {
	f := loadCompose(t)
	v := loadNATSValues(t)
	repo, _ := v.get("container.image.repository")
	tag, _ := v.get("container.image.tag")
	helm, err := natsImageVersion(fmt.Sprintf("%v:%v", repo, tag), minNATSVersion(t))
	if err != nil {
		t.Fatalf("deploy/k8s/nats/values.yaml: %v", err)
	}
	for _, name := range natsServices {
		got, err := natsImageVersion(f.Services[name].Image, minNATSVersion(t))
		if err != nil || got != helm {
			t.Errorf("compose service %s runs NATS %s (%v); the Helm values pin %s", name, got, err, helm)
		}
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/nats-io/nats-server/v2 v(\d+\.\d+)\.\d+`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod requires no github.com/nats-io/nats-server/v2")
	}
	if !strings.HasPrefix(helm, m[1]+".") {
		t.Errorf("the deployments pin NATS %s; mediapipe embeds and tests %s.x (go.mod): keep them on one minor version", helm, m[1])
	}
}

// TestComposeNATSAuthCatchesMistakes breaks the compose file's NATS
// credentials or image in one place at a time.
func TestComposeNATSAuthCatchesMistakes(t *testing.T) {
	for _, c := range []struct {
		name, want string
		breakIt    func(f composeFile)
	}{
		{"a default password", "refuses to start without a password", func(f composeFile) {
			for _, n := range natsServices {
				f.Services[n].Environment["NATS_PASSWORD"] = "${NATS_PASSWORD:-changeme}"
			}
		}},
		{"a server without the password", "service nats-2: no NATS_PASSWORD", func(f composeFile) {
			delete(f.Services["nats-2"].Environment, "NATS_PASSWORD")
		}},
		{"a role without the password", "service downloader: NATS_PASSWORD", func(f composeFile) {
			delete(f.Services["downloader"].Environment, "NATS_PASSWORD")
		}},
		{"credentials in NATS_URL", "carries credentials", func(f composeFile) {
			f.Services["ingest"].Environment["NATS_URL"] = "nats://mediapipe:n0123@nats-1:4222"
		}},
		{"Debian's NATS", "older than 2.10.0", func(f composeFile) {
			s := f.Services["nats-3"]
			s.Image = "nats:2.9.10"
			f.Services["nats-3"] = s
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := loadCompose(t)
			c.breakIt(f)
			err := errors.Join(checkComposeNATSAuth(t, f)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("want a problem mentioning %q, got: %v", c.want, err)
			}
		})
	}
}
