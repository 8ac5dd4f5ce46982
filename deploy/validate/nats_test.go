package validate

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// The value keys of NATS's official Helm chart (nats-io/k8s, chart "nats",
// 1.x and later) that deploy/k8s/nats/values.yaml may set. The chart cannot
// be rendered offline; a key outside these lists is a typo the chart would
// silently ignore.
var (
	chartTopKeys = []string{"global", "nameOverride", "fullnameOverride", "namespaceOverride", "tlsCA", "config",
		"container", "reloader", "promExporter", "service", "statefulSet", "podTemplate", "headlessService",
		"podDisruptionBudget", "serviceAccount", "natsBox", "extraResources"}
	chartConfigKeys = []string{"cluster", "nats", "leafnodes", "websocket", "mqtt", "gateway", "monitor",
		"profiling", "resolver", "jetstream", "serverNamePrefix", "merge", "patch"}
)

type helmValues map[string]any

func (v helmValues) get(path string) (any, bool) {
	var cur any = map[string]any(v)
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func loadNATSValues(t *testing.T) helmValues {
	t.Helper()
	var v helmValues
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "deploy", "k8s", "nats", "values.yaml")), &v); err != nil {
		t.Fatalf("deploy/k8s/nats/values.yaml: %v", err)
	}
	return v
}

func TestNATSHelmValues(t *testing.T) {
	report(t, "deploy/k8s/nats/values.yaml", checkNATSValues(t, loadNATSValues(t)))
}

// checkNATSValues judges the chart's values: known keys, the cluster and
// JetStream mediapipe needs, max_payload, a pinned supported image and
// authentication with the credentials of Secret mediapipe-secrets.
func checkNATSValues(t *testing.T, v helmValues) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for k := range v {
		if !slices.Contains(chartTopKeys, k) {
			add("top-level key %q is not a value of the nats chart", k)
		}
	}
	if cfg, ok := v["config"].(map[string]any); ok {
		for k := range cfg {
			if !slices.Contains(chartConfigKeys, k) {
				add("config.%s is not a value of the nats chart", k)
			}
		}
	}
	for path, want := range map[string]any{
		"config.cluster.enabled":                 true,
		"config.cluster.replicas":                float64(3),
		"config.jetstream.enabled":               true,
		"config.jetstream.fileStore.enabled":     true,
		"config.jetstream.fileStore.pvc.enabled": true,
		"config.monitor.enabled":                 true, // KEDA's nats-jetstream scaler reads /jsz
		"config.monitor.port":                    float64(8222),
		"podDisruptionBudget.enabled":            true,
	} {
		if got, ok := v.get(path); !ok || got != want {
			add("%s = %v, want %v", path, got, want)
		}
	}
	// The PVC holds a replica of every stream on each server.
	if size, ok := v.get("config.jetstream.fileStore.pvc.size"); !ok {
		add("config.jetstream.fileStore.pvc.size is unset")
	} else if q, err := resource.ParseQuantity(fmt.Sprint(size)); err != nil || q.Value() < 3<<30 {
		add("config.jetstream.fileStore.pvc.size %v: below the three streams at STREAM_MAX_BYTES (1 GiB) each", size)
	}
	// max_payload: the chart writes "<< X >>" unquoted into nats.conf;
	// parse it as the server would.
	mp, ok := v.get("config.merge.max_payload")
	raw := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(fmt.Sprint(mp)), "<<"), ">>")
	parsed, err := conf.Parse("max_payload: " + strings.TrimSpace(raw))
	if !ok || err != nil {
		add("config.merge.max_payload %v: %v", mp, err)
	} else if n, _ := parsed["max_payload"].(int64); n < 1<<20+64<<10 {
		add("config.merge.max_payload %v (%d bytes) is too small for a 1 MiB webhook and its headers", mp, n)
	}

	// The image: pinned here (not left to the chart's default) at a
	// release mediapipe supports.
	repo, _ := v.get("container.image.repository")
	tag, _ := v.get("container.image.tag")
	if d, _ := v.get("container.image.digest"); d != nil && d != "" {
		add("container.image.digest %v: pin the tag, whose version these checks read", d)
	}
	if _, err := natsImageVersion(fmt.Sprintf("%v:%v", repo, tag), minNATSVersion(t)); repo == nil || tag == nil || err != nil {
		add("container.image %v:%v: %v", repo, tag, err)
	}

	// Authentication: config.merge.authorization, rendered as the chart
	// does and loaded by NATS's parser, requires a user and password that
	// come from the container's environment, which reads them from
	// mediapipe-secrets (the keys the mediapipe pods read).
	merge, _ := v.get("config.merge")
	mergeMap, _ := merge.(map[string]any)
	for _, name := range natsCredentialVars {
		ref, _ := v.get("container.env." + name + ".valueFrom.secretKeyRef")
		m, _ := ref.(map[string]any)
		if m == nil || m["name"] != secretName || m["key"] != name {
			add("container.env.%s must come from Secret %s, key %s (the key the mediapipe pods read)", name, secretName, name)
		}
	}
	if _, ok := mergeMap["authorization"].(map[string]any); !ok {
		add("config.merge.authorization is unset: any client that reaches the port reads every webhook and can publish forged ones")
		return errs
	}
	// Rendered twice with different credentials in the environment, the
	// server must accept exactly those each time: they come from the
	// Secret, never from a literal in the values.
	for i, cred := range [][2]string{{"mediapipe", samplePassword}, {"other", "n" + strings.Repeat("f", 48)}} {
		user, pass := cred[0], cred[1]
		o, err := renderChartConfig(t, mergeMap, map[string]string{"NATS_USER": user, "NATS_PASSWORD": pass})
		if err != nil {
			add("config.merge as the chart renders it: %v", err)
			break
		}
		if i == 0 {
			errs = append(errs, checkAuthOpts("config.merge", o)...)
		}
		if got, ok := passwordOf(o, user); !ok || got != pass {
			add("config.merge.authorization does not take the user and password from NATS_USER and NATS_PASSWORD (<< $NATS_USER >>, << $NATS_PASSWORD >>): never a literal")
			break
		}
	}
	return errs
}

// passwordOf returns the password a NATS configuration requires of user.
func passwordOf(o *server.Options, user string) (string, bool) {
	if o.Username == user {
		return o.Password, true
	}
	for _, u := range o.Users {
		if u.Username == user {
			return u.Password, true
		}
	}
	return "", false
}

// set changes one value (a nil value deletes it), creating the maps on
// the way.
func (v helmValues) set(path string, value any) {
	cur := map[string]any(v)
	parts := strings.Split(path, ".")
	for _, k := range parts[:len(parts)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[k] = next
		}
		cur = next
	}
	if value == nil {
		delete(cur, parts[len(parts)-1])
	} else {
		cur[parts[len(parts)-1]] = value
	}
}

// TestNATSHelmValuesCatchMistakes breaks the values in one place at a time
// and requires checkNATSValues to name the problem.
func TestNATSHelmValuesCatchMistakes(t *testing.T) {
	for _, c := range []struct {
		name, path string
		value      any
		want       string
	}{
		{"no authorization", "config.merge.authorization", nil, "config.merge.authorization is unset"},
		{"a literal password", "config.merge.authorization.password", "secret", "never a literal"},
		{"a password from nowhere", "container.env.NATS_PASSWORD", nil, "container.env.NATS_PASSWORD must come from Secret"},
		{"a password from another Secret", "container.env.NATS_PASSWORD.valueFrom.secretKeyRef.name", "nats-auth", "container.env.NATS_PASSWORD must come from Secret"},
		{"anonymous clients let in as a user", "config.merge.no_auth_user", "mediapipe", "no_auth_user"},
		{"Debian's NATS", "container.image.tag", "2.9.10-alpine", "older than 2.10.0"},
		{"the chart's default image", "container.image.tag", nil, "container.image"},
		{"an unversioned image", "container.image.tag", "latest", "pin a release tag"},
		{"a literal user in a users list", "config.merge.authorization", map[string]any{"users": []any{map[string]any{"user": "mediapipe", "password": "<< $NATS_PASSWORD >>"}}}, "never a literal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := loadNATSValues(t)
			v.set(c.path, c.value)
			err := errors.Join(checkNATSValues(t, v)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("want a problem mentioning %q, got: %v", c.want, err)
			}
		})
	}
}

// TestNATSKustomization: the chart is pinned, and the release name and
// namespace are the ones mediapipe's config and KEDA's triggers use.
func TestNATSKustomization(t *testing.T) {
	var k types.Kustomization
	if err := yaml.UnmarshalStrict([]byte(readRepoFile(t, "deploy", "k8s", "nats", "kustomization.yaml")), &k); err != nil {
		t.Fatal(err)
	}
	if len(k.HelmCharts) != 1 {
		t.Fatalf("%d helmCharts, want the nats chart", len(k.HelmCharts))
	}
	c := k.HelmCharts[0]
	if c.Name != "nats" || c.Repo != "https://nats-io.github.io/k8s/helm/charts/" || c.ValuesFile != "values.yaml" {
		t.Errorf("chart %s from %s with %s: want the official nats chart with values.yaml", c.Name, c.Repo, c.ValuesFile)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(c.Version) {
		t.Errorf("chart version %q is not pinned", c.Version)
	}
	// The documented helm command installs the same version.
	for _, f := range [][]string{{"deploy", "k8s", "nats", "values.yaml"}, {"deploy", "k8s", "overlays", "production", "kustomization.yaml"}, {"docs", "OPERATIONS.md"}} {
		for _, m := range regexp.MustCompile(`nats/nats --version (\S+)`).FindAllStringSubmatch(readRepoFile(t, f...), -1) {
			if m[1] != c.Version {
				t.Errorf("%s installs chart %s; kustomization.yaml pins %s", strings.Join(f, "/"), m[1], c.Version)
			}
		}
	}
	prod := buildKustomization(t, "deploy/k8s/overlays/production")
	if c.ReleaseName != "nats" || c.Namespace != kustomizations[1].namespace || k.Namespace != c.Namespace {
		t.Errorf("release %q in %q: want release nats in %q, where mediapipe's config finds it", c.ReleaseName, c.Namespace, kustomizations[1].namespace)
	}
	for _, o := range prod {
		if cm, ok := o.Obj.(*corev1.ConfigMap); ok {
			for _, u := range strings.Split(cm.Data["NATS_URL"], ",") {
				if !strings.HasPrefix(u, "nats://"+c.ReleaseName+":") && !strings.HasPrefix(u, "nats://"+c.ReleaseName+".") {
					t.Errorf("NATS_URL %q does not name the %s release's service", u, c.ReleaseName)
				}
			}
		}
	}
}

// TestNATSHelmValuesAcceptASystemAccount: the system account recipe of
// deploy/README.md (the user in a users list, a SYS account beside it)
// passes the checks, and the mediapipe user keeps JetStream with it.
func TestNATSHelmValuesAcceptASystemAccount(t *testing.T) {
	v := loadNATSValues(t)
	v.set("config.merge.authorization", map[string]any{"users": []any{map[string]any{"user": "<< $NATS_USER >>", "password": "<< $NATS_PASSWORD >>"}}})
	v.set("config.merge.accounts", map[string]any{"SYS": map[string]any{"users": []any{map[string]any{"user": "sys", "password": "<< $NATS_SYS_PASSWORD >>"}}}})
	v.set("config.merge.system_account", "SYS")
	t.Setenv("NATS_SYS_PASSWORD", "n"+strings.Repeat("e", 48))
	report(t, "values with a system account", checkNATSValues(t, v))
	merge, _ := v.get("config.merge")
	o, err := renderChartConfig(t, merge.(map[string]any), map[string]string{"NATS_USER": "mediapipe", "NATS_PASSWORD": samplePassword})
	if err != nil {
		t.Fatal(err)
	}
	proveAuth(t, startNATS(t, o), "mediapipe", samplePassword)
}
