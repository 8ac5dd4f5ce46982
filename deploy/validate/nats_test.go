package validate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/conf"
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

func TestNATSHelmValues(t *testing.T) {
	var v helmValues
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "deploy", "k8s", "nats", "values.yaml")), &v); err != nil {
		t.Fatalf("deploy/k8s/nats/values.yaml: %v", err)
	}
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
	report(t, "deploy/k8s/nats/values.yaml", errs)
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
