package validate

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	yamlv3 "go.yaml.in/yaml/v3"
)

// composeFile is the part of the Compose specification the file uses;
// decoding with known fields only makes a misspelled key fail.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]*struct{}      `yaml:"volumes"`
	Networks map[string]*struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Extensions map[string]any `yaml:",inline"` // x-... anchors
}

type composeService struct {
	Image       string                                `yaml:"image"`
	Build       *struct{ Context, Dockerfile string } `yaml:"build"`
	Restart     string                                `yaml:"restart"`
	Entrypoint  []string                              `yaml:"entrypoint"`
	Command     []string                              `yaml:"command"`
	Environment map[string]string                     `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
		Disable     bool     `yaml:"disable"`
	} `yaml:"healthcheck"`
	StopSignal      string   `yaml:"stop_signal"`
	StopGracePeriod string   `yaml:"stop_grace_period"`
	Ports           []string `yaml:"ports"`
	Volumes         []string `yaml:"volumes"`
	Profiles        []string `yaml:"profiles"`
	Deploy          *struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	dec := yamlv3.NewDecoder(bytes.NewReader([]byte(readRepoFile(t, "deploy", "compose", "docker-compose.yml"))))
	dec.KnownFields(true)
	var f composeFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("deploy/compose/docker-compose.yml: %v", err)
	}
	return f
}

// mount is one entry of a service's volumes ("source:target[:ro]").
type mount struct {
	source, target string
	readOnly       bool
}

func mounts(s composeService) []mount {
	var out []mount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		m := mount{source: parts[0]}
		if len(parts) > 1 {
			m.target = parts[1]
		}
		m.readOnly = len(parts) > 2 && parts[2] == "ro"
		out = append(out, m)
	}
	return out
}

func namedVolume(m mount) bool {
	return !strings.HasPrefix(m.source, ".") && !strings.HasPrefix(m.source, "/")
}

var natsServices = []string{"nats-1", "nats-2", "nats-3"}

func TestCompose(t *testing.T) {
	f := loadCompose(t)
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	for k := range f.Extensions {
		if !strings.HasPrefix(k, "x-") {
			add("unknown top-level key %q", k)
		}
	}
	want := map[string]int{"nats-1": 1, "nats-2": 1, "nats-3": 1, "postgres": 1, "migrate": 1, "ingest": 1, "analyzer": 2, "downloader": 2, "deliverer": 1,
		s3Service: 1, s3BucketService: 1, edgeService: 1, "prometheus": 1, "grafana": 1}
	for name, replicas := range want {
		s, ok := f.Services[name]
		if !ok {
			add("no service %s", name)
			continue
		}
		got := 1
		if s.Deploy != nil && s.Deploy.Replicas > 0 {
			got = s.Deploy.Replicas
		}
		if got != replicas {
			add("service %s: %d replicas, want %d", name, got, replicas)
		}
	}

	// Volumes: every named volume used is declared, every declared one used.
	used := map[string]bool{}
	for name, s := range f.Services {
		for _, m := range mounts(s) {
			if m.target == "" {
				add("service %s: volume %q has no target", name, m.source)
				continue
			}
			if namedVolume(m) {
				used[m.source] = true
				if _, ok := f.Volumes[m.source]; !ok {
					add("service %s uses volume %s, which is not declared", name, m.source)
				}
			} else if _, err := os.Stat(repoPath("deploy", "compose", m.source)); err != nil {
				add("service %s mounts %s: %v", name, m.source, err)
			}
		}
		if s.Image != "" && !strings.HasPrefix(s.Image, "${") {
			if _, tag := splitImage(s.Image); tag == "" || tag == "latest" {
				add("service %s: image %q is not pinned", name, s.Image)
			}
		}
	}
	for v := range f.Volumes {
		if !used[v] {
			add("volume %s is declared but unused", v)
		}
	}

	// NATS: three servers, each with its config, its own data volume, a
	// health check and a unique name.
	names := map[string]bool{}
	for _, name := range natsServices {
		s := f.Services[name]
		if s.Healthcheck == nil || s.Healthcheck.Disable || !slices.ContainsFunc(s.Healthcheck.Test, func(a string) bool { return strings.Contains(a, ":8222/healthz") }) {
			add("service %s: no health check on the monitoring port's /healthz", name)
		}
		n := s.Environment["SERVER_NAME"]
		if n == "" || names[n] {
			add("service %s: SERVER_NAME %q missing or not unique", name, n)
		}
		names[n] = true
		var data, conf bool
		for _, m := range mounts(s) {
			data = data || (namedVolume(m) && m.target == "/data")
			conf = conf || (m.source == "./nats.conf" && m.readOnly)
		}
		if !data || !conf {
			add("service %s: wants its own volume at /data and ./nats.conf read-only", name)
		}
		if s.StopSignal != "SIGUSR2" {
			add("service %s: stop_signal %q: SIGUSR2 puts NATS in lame duck mode (leaders move away first)", name, s.StopSignal)
		}
		if !slices.Contains(s.Command, "/etc/nats/nats.conf") {
			add("service %s: command %v does not load /etc/nats/nats.conf", name, s.Command)
		}
	}
	pg := f.Services["postgres"]
	if pg.Healthcheck == nil || pg.Healthcheck.Disable || len(mounts(pg)) == 0 {
		add("service postgres: needs a health check and a data volume")
	}

	// mediapipe: the roles, configured alike, started after the migration
	// and a healthy NATS cluster.
	roleServices := map[string]string{"migrate": "migrate", "ingest": "ingest", "analyzer": "analyzer", "downloader": "downloader", "deliverer": "deliverer"}
	for name, role := range roleServices {
		s := f.Services[name]
		if len(s.Command) == 0 || s.Command[0] != role {
			add("service %s: command %v, want %s", name, s.Command, role)
		}
		if s.Build == nil || s.Build.Context != "../.." || s.Build.Dockerfile != "Dockerfile" {
			add("service %s: builds from %+v, want the repository's Dockerfile (context ../..)", name, s.Build)
		}
		for k := range s.Environment {
			if err := checkEnvName(t, "service "+name, k); err != nil {
				errs = append(errs, err)
			}
		}
		env := s.Environment
		if env["STREAM_REPLICAS"] != "3" {
			add("service %s: STREAM_REPLICAS=%q, want 3 on the 3-node cluster", name, env["STREAM_REPLICAS"])
		}
		var hosts []string
		for _, u := range strings.Split(env["NATS_URL"], ",") {
			if pu, err := url.Parse(u); err == nil && pu.Scheme == "nats" {
				hosts = append(hosts, pu.Hostname())
			}
		}
		sort.Strings(hosts)
		if !slices.Equal(hosts, natsServices) {
			add("service %s: NATS_URL %q should list every NATS server %v", name, env["NATS_URL"], natsServices)
		}
		if u, err := url.Parse(interpolate(env["DATABASE_URL"])); err != nil || u.Hostname() != "postgres" {
			add("service %s: DATABASE_URL %q does not point at the postgres service", name, env["DATABASE_URL"])
		}
		if name == "migrate" {
			if s.DependsOn["postgres"].Condition != "service_healthy" {
				add("service migrate: must wait for a healthy postgres")
			}
			continue
		}
		if s.DependsOn["migrate"].Condition != "service_completed_successfully" {
			add("service %s: must start after migrate completed successfully", name)
		}
		for _, n := range natsServices {
			if s.DependsOn[n].Condition != "service_healthy" {
				add("service %s: must wait for a healthy %s", name, n)
			}
		}
		if s.Healthcheck == nil || s.Healthcheck.Disable || !slices.Contains(s.Healthcheck.Test, "/usr/local/bin/probe") {
			add("service %s: no health check with the image's probe", name)
		}
		if s.StopGracePeriod == "" {
			add("service %s: set stop_grace_period to cover the soft stop", name)
		}
	}
	errs = append(errs, checkComposeNATSAuth(t, f)...)
	errs = append(errs, checkComposeStore(t, f)...)
	errs = append(errs, checkComposeExposure(f)...)
	report(t, "deploy/compose/docker-compose.yml", errs)
}

// requiredVar matches a compose interpolation that fails when the
// variable is unset or empty: ${NAME:?message}.
var requiredVar = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]+\}$`)

// checkComposeNATSAuth: the NATS servers run a supported, pinned image and
// read the credentials they accept from the environment; every mediapipe
// service sends the same ones; the password is required (no default
// baked into the file) and never part of NATS_URL.
func checkComposeNATSAuth(t *testing.T, f composeFile) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	want := map[string]string{} // variable -> the expression the NATS servers use
	for _, name := range natsServices {
		s := f.Services[name]
		if _, err := natsImageVersion(s.Image, minNATSVersion(t)); err != nil {
			add("service %s: %v", name, err)
		}
		for _, v := range natsCredentialVars {
			e, ok := s.Environment[v]
			if !ok {
				add("service %s: no %s: nats.conf's authorization reads it from the environment", name, v)
				continue
			}
			if w, seen := want[v]; seen && w != e {
				add("service %s: %s=%q differs from the other servers' %q", name, v, e, w)
			}
			want[v] = e
		}
	}
	if m := requiredVar.FindStringSubmatch(want["NATS_PASSWORD"]); m == nil || m[1] != "NATS_PASSWORD" {
		add("NATS_PASSWORD=%q: want ${NATS_PASSWORD:?...} so that compose refuses to start without a password (no default secret in the file)", want["NATS_PASSWORD"])
	}
	for name, s := range f.Services {
		if s.Build == nil { // NATS, PostgreSQL: not mediapipe
			continue
		}
		for _, v := range natsCredentialVars {
			if got, ok := s.Environment[v]; !ok || got != want[v] {
				add("service %s: %s=%q, want %q, what the NATS servers accept", name, v, got, want[v])
			}
		}
		for _, u := range strings.Split(s.Environment["NATS_URL"], ",") {
			if pu, err := url.Parse(u); err == nil && pu.User != nil {
				add("service %s: NATS_URL %q carries credentials: use NATS_USER and NATS_PASSWORD", name, u)
			}
		}
	}
	return errs
}

// interpolate replaces ${NAME:-default} and ${NAME} as compose does with
// an empty environment, and ${NAME:?message} with "set".
func interpolate(s string) string {
	s = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]*\}`).ReplaceAllString(s, "set")
	return regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}`).ReplaceAllString(s, "$1")
}

// TestComposeNATSConfig parses deploy/compose/nats.conf with the NATS
// server's own configuration parser (the version mediapipe embeds) as each
// compose service would load it.
func TestComposeNATSConfig(t *testing.T) {
	f := loadCompose(t)
	for _, name := range natsServices {
		t.Run(name, func(t *testing.T) {
			t.Setenv("SERVER_NAME", f.Services[name].Environment["SERVER_NAME"])
			for _, v := range natsCredentialVars {
				t.Setenv(v, samplePassword)
			}
			opts, err := server.ProcessConfigFile(repoPath("deploy", "compose", "nats.conf"))
			if err != nil {
				t.Fatalf("nats.conf: %v", err)
			}
			if opts.ServerName != name {
				t.Errorf("server_name %q, want %q", opts.ServerName, name)
			}
			// WEBHOOK_MAX_BYTES (1 MiB by default) plus headers must fit.
			if opts.MaxPayload < 1<<20+64<<10 {
				t.Errorf("max_payload %d is too small for a 1 MiB webhook and its headers", opts.MaxPayload)
			}
			if !opts.JetStream || opts.StoreDir != "/data" {
				t.Errorf("JetStream %v on %q, want file storage on /data (the service's volume)", opts.JetStream, opts.StoreDir)
			}
			if opts.HTTPPort != 8222 {
				t.Errorf("monitoring port %d, want 8222 (health check)", opts.HTTPPort)
			}
			if opts.Cluster.Name == "" || opts.Cluster.Port != 6222 {
				t.Errorf("cluster %q on port %d", opts.Cluster.Name, opts.Cluster.Port)
			}
			var routes []string
			for _, r := range opts.Routes {
				routes = append(routes, r.Hostname())
			}
			sort.Strings(routes)
			if !slices.Equal(routes, natsServices) {
				t.Errorf("routes %v, want every server %v", routes, natsServices)
			}
		})
	}
}
