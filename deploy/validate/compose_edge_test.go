package validate

import (
	"fmt"
	"io"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	promconfig "github.com/prometheus/prometheus/config"
	_ "github.com/prometheus/prometheus/discovery/dns" // dns_sd_configs in prometheus.yml
	yamlv3 "go.yaml.in/yaml/v3"
)

// edgeService is the compose stack's only service published beyond the
// host's loopback.
const edgeService = "edge"

// composeSecrets are the variables that carry a secret: each must come
// from .env, required (${NAME:?...}) unless optional (ADMIN_TOKEN).
var composeSecrets = map[string]bool{"NATS_PASSWORD": true, "POSTGRES_PASSWORD": true, "AWS_SECRET_ACCESS_KEY": true,
	"GF_SECURITY_ADMIN_PASSWORD": true, "ADMIN_TOKEN": false}

// checkComposeExposure: only the edge publishes beyond 127.0.0.1, and it
// forwards the webhook and media routes only; PostgreSQL has no host port;
// secrets come from .env; the ingest trusts the edge's network.
func checkComposeExposure(f composeFile) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for name, s := range f.Services {
		for _, p := range s.Ports {
			if name != edgeService && !strings.HasPrefix(p, "127.0.0.1:") {
				add("service %s publishes %q beyond loopback: only %s may (bind 127.0.0.1:)", name, p, edgeService)
			}
		}
		for v, required := range composeSecrets {
			e, ok := s.Environment[v]
			if !ok {
				continue
			}
			if required && !(strings.HasPrefix(e, "${") && strings.Contains(e, ":?")) {
				add("service %s: %s=%q: want ${NAME:?...} from .env (no secret in the file)", name, v, e)
			}
			if !required && !strings.HasPrefix(e, "${"+v) {
				add("service %s: %s=%q: want ${%s:-} from .env", name, v, e, v)
			}
		}
		if u := s.Environment["DATABASE_URL"]; u != "" && !strings.Contains(u, "${POSTGRES_PASSWORD:?") {
			add("service %s: DATABASE_URL %q: the password must be ${POSTGRES_PASSWORD:?...} from .env", name, u)
		}
	}
	if len(f.Services["postgres"].Ports) > 0 {
		add("service postgres publishes %v: no host port by default (a host PostgreSQL holds 5432)", f.Services["postgres"].Ports)
	}
	if pw := f.Services["postgres"].Environment["POSTGRES_PASSWORD"]; requiredVar.FindStringSubmatch(pw) == nil {
		add("service postgres: POSTGRES_PASSWORD=%q: want ${POSTGRES_PASSWORD:?...}", pw)
	}
	if _, ok := f.Services["migrate"].Environment["ADMIN_TOKEN"]; !ok {
		add("the mediapipe services do not read ADMIN_TOKEN from .env")
	}
	edge := f.Services[edgeService]
	if len(edge.Ports) != 1 || !strings.HasSuffix(edge.Ports[0], ":8080") {
		add("service %s: ports %v, want one, to its 8080", edgeService, edge.Ports)
	}
	if edge.DependsOn["ingest"].Condition != "service_healthy" {
		add("service %s: must wait for a healthy ingest", edgeService)
	}
	var subnet string
	if n := f.Networks["default"]; n != nil && len(n.IPAM.Config) == 1 {
		subnet = n.IPAM.Config[0].Subnet
	}
	if subnet == "" || f.Services["ingest"].Environment["TRUSTED_PROXIES"] != subnet {
		add("service ingest: TRUSTED_PROXIES=%q, want the default network's subnet %q (the edge's X-Forwarded-For)", f.Services["ingest"].Environment["TRUSTED_PROXIES"], subnet)
	}
	return errs
}

var (
	nginxLocation  = regexp.MustCompile(`(?m)^\s*location\s+([^{]+?)\s*\{([^}]*)\}`)
	nginxLogFormat = regexp.MustCompile(`(?s)log_format\s+\w+\s+(.*?);`)
)

// checkEdge judges the edge's nginx configuration: it forwards exactly the
// webhook route and the media API, answers 404 to the rest (/metrics,
// /admin/), and its access log has no query string (?token=).
func checkEdge(conf string) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	proxied := map[string]bool{}
	var fallback bool
	for _, m := range nginxLocation.FindAllStringSubmatch(conf, -1) {
		loc, body := strings.Join(strings.Fields(m[1]), " "), m[2]
		switch {
		case strings.Contains(body, "proxy_pass"):
			proxied[loc] = true
		case loc == "/":
			fallback = strings.Contains(body, "return 404")
		}
	}
	want := []string{"/v1/", "/webhooks/"}
	got := make([]string, 0, len(proxied))
	for l := range proxied {
		got = append(got, l)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		add("edge.conf proxies %v, want exactly %v (never /metrics, /admin/, /healthz)", got, want)
	}
	if !fallback {
		add("edge.conf: location / must return 404")
	}
	formats := nginxLogFormat.FindAllStringSubmatch(conf, -1)
	if len(formats) == 0 || !strings.Contains(conf, "access_log /dev/stdout "+strings.Fields(formats[0][0])[1]) {
		add("edge.conf: want a log_format of its own used by access_log (the default logs $request, with ?token=)")
	}
	for _, f := range formats {
		for _, v := range []string{"$request ", "$request\"", "$request_uri", "$args", "$query_string", "$arg_"} {
			if strings.Contains(f[1], v) {
				add("edge.conf: log_format logs %s, which carries ?token=", strings.Trim(v, ` "`))
			}
		}
	}
	return errs
}

// TestComposeExposureCatchesMistakes breaks the compose file one way at a
// time; the exposure checks must name each.
func TestComposeExposureCatchesMistakes(t *testing.T) {
	if errs := checkComposeExposure(loadCompose(t)); len(errs) > 0 {
		t.Fatalf("the compose file fails already: %v", errs)
	}
	for name, c := range map[string]struct {
		breakIt func(composeFile)
		want    string
	}{
		"postgres on a host port": {func(f composeFile) {
			pg := f.Services["postgres"]
			pg.Ports = []string{"127.0.0.1:5432:5432"}
			f.Services["postgres"] = pg
		}, "no host port"},
		"metrics on every interface": {func(f composeFile) {
			s := f.Services["ingest"]
			s.Ports = []string{"8081:8080"}
			f.Services["ingest"] = s
		}, "beyond loopback"},
		"a literal admin token": {func(f composeFile) { f.Services["ingest"].Environment["ADMIN_TOKEN"] = "0123456789abcdef0123" }, "ADMIN_TOKEN"},
		"a default Grafana password": {func(f composeFile) {
			f.Services["grafana"].Environment["GF_SECURITY_ADMIN_PASSWORD"] = "${GRAFANA_ADMIN_PASSWORD:-admin}"
		}, "GF_SECURITY_ADMIN_PASSWORD"},
		"untrusted edge": {func(f composeFile) { delete(f.Services["ingest"].Environment, "TRUSTED_PROXIES") }, "TRUSTED_PROXIES"},
	} {
		f := loadCompose(t)
		c.breakIt(f)
		errs := checkComposeExposure(f)
		if !slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), c.want) }) {
			t.Errorf("%s: want an error naming %q, got %v", name, c.want, errs)
		}
	}
}

func TestComposeEdge(t *testing.T) {
	conf := readRepoFile(t, "deploy", "compose", "edge.conf")
	report(t, "deploy/compose/edge.conf", checkEdge(conf))
	for name, c := range map[string]struct{ from, to string }{
		"metrics proxied":  {"location / {\n      return 404;", "location / {\n      proxy_pass http://ingest:8080;"},
		"token in the log": {`"$request_method $uri $server_protocol"`, `"$request"`},
		"args in the log":  {"$uri", "$uri?$args"},
	} {
		bad := strings.Replace(conf, c.from, c.to, 1)
		if bad == conf {
			t.Fatalf("%s: %q not in edge.conf", name, c.from)
		}
		if len(checkEdge(bad)) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestComposeMonitoring loads the compose Prometheus configuration with
// Prometheus's own loader and checks that it reads the mounted rules and
// scrapes every mediapipe role, and that Grafana's provisioning finds the
// mounted dashboard.
func TestComposeMonitoring(t *testing.T) {
	f := loadCompose(t)
	mountOf := func(service, source string) string {
		for _, m := range mounts(f.Services[service]) {
			if m.source == source {
				return m.target
			}
		}
		t.Errorf("service %s does not mount %s", service, source)
		return ""
	}
	cfg, err := promconfig.LoadFile(repoPath("deploy", "observability", "prometheus.yml"), false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if mountOf("prometheus", "../observability/prometheus.yml") != "/etc/prometheus/prometheus.yml" {
		t.Errorf("prometheus does not read ../observability/prometheus.yml as its configuration")
	}
	if rules := mountOf("prometheus", "../observability/alerts.yaml"); !slices.Contains(cfg.RuleFiles, rules) {
		t.Errorf("prometheus.yml rule_files %v, want the mounted alerts %s", cfg.RuleFiles, rules)
	}
	scraped := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, sd := range sc.ServiceDiscoveryConfigs {
			y, err := yamlv3.Marshal(sd)
			if err != nil {
				t.Fatal(err)
			}
			var dns struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			}
			if err := yamlv3.Unmarshal(y, &dns); err != nil {
				t.Fatal(err)
			}
			for _, n := range dns.Names {
				scraped[n] = dns.Port == 8080 && sc.MetricsPath == "/metrics"
			}
		}
	}
	for _, role := range []string{"ingest", "analyzer", "downloader", "deliverer"} {
		if !scraped[role] {
			t.Errorf("prometheus.yml does not scrape service %s on 8080/metrics", role)
		}
	}

	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yamlv3.Unmarshal([]byte(readRepoFile(t, "deploy", "observability", "grafana", "provisioning", "dashboards", "mediapipe.yaml")), &provider); err != nil || len(provider.Providers) != 1 {
		t.Fatalf("grafana dashboard provider: %v", err)
	}
	dash := mountOf("grafana", "../observability/grafana/mediapipe.json")
	if path.Dir(dash) != provider.Providers[0].Options.Path {
		t.Errorf("grafana mounts the dashboard at %s, outside the provider's path %s", dash, provider.Providers[0].Options.Path)
	}
	if mountOf("grafana", "../observability/grafana/provisioning") != "/etc/grafana/provisioning" {
		t.Errorf("grafana does not mount its provisioning at /etc/grafana/provisioning")
	}
}
