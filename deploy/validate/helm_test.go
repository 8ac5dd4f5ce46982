package validate

import (
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// chartDir is the Helm chart, rendered offline by Helm's own packages (the
// version pinned in go.mod: the code of `helm lint` and `helm template`).
var chartDir = []string{"deploy", "helm", "mediapipe"}

// helmNamespace is the namespace the chart is rendered into, the
// production overlay's.
const helmNamespace = "mediapipe"

// The value sets rendered, each judged like the kustomization it mirrors.
var helmCases = []struct {
	name   string
	values string // YAML merged over values.yaml
	keda   bool
}{
	{name: "defaults"},
	{name: "keda", values: "keda: {enabled: true}", keda: true},
	{name: "monitoring", values: "monitoring: {podMonitor: {enabled: true}, prometheusRule: {enabled: true}, dashboard: {enabled: true}}"},
}

func parseValues(t *testing.T, y string) map[string]any {
	t.Helper()
	v := map[string]any{}
	if err := yaml.Unmarshal([]byte(y), &v); err != nil {
		t.Fatalf("values %q: %v", y, err)
	}
	return v
}

// renderChart lints and renders the chart with extra values, and decodes
// every object strictly, as the kustomize builds are.
func renderChart(t *testing.T, values string) []object {
	t.Helper()
	dir := repoPath(chartDir...)
	vals := parseValues(t, values)

	linter := lint.RunAll(dir, vals, helmNamespace)
	var problems []error
	for _, m := range linter.Messages {
		if m.Severity >= support.WarningSev {
			problems = append(problems, fmt.Errorf("helm lint: %s", m))
		}
	}
	report(t, "helm lint", problems)

	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	rv, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "mediapipe", Namespace: helmNamespace, IsInstall: true}, nil)
	if err != nil {
		t.Fatalf("chart values: %v", err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	names := slices.Sorted(maps.Keys(files))
	var out []object
	var errs []error
	for _, name := range names {
		if filepath.Ext(name) != ".yaml" {
			continue
		}
		for _, doc := range strings.Split("\n"+files[name], "\n---") {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			o, err := decodeObject([]byte(doc))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				continue
			}
			for _, msg := range validation.IsDNS1123Subdomain(o.Name) {
				errs = append(errs, fmt.Errorf("%s: name: %s", o, msg))
			}
			out = append(out, o)
		}
	}
	report(t, "decoding the chart", errs)
	if t.Failed() {
		t.FailNow()
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestHelmChart lints and renders the chart with each value set and holds
// the objects to the production overlay's rules.
func TestHelmChart(t *testing.T) {
	for _, c := range helmCases {
		t.Run(c.name, func(t *testing.T) {
			objs := renderChart(t, c.values)
			report(t, "chart ("+c.name+")", checkObjects(t, objs, true, helmNamespace, c.keda, "s3"))
			counts := map[string]int{}
			for _, o := range objs {
				counts[o.GVK.Kind]++
			}
			t.Logf("%d objects %v", len(objs), counts)
		})
	}
}

// TestHelmChartMonitoring: the chart's PodMonitor and PrometheusRule pass
// the monitoring component's checks, and its dashboard and rules are the
// files of deploy/observability.
func TestHelmChartMonitoring(t *testing.T) {
	objs := renderChart(t, helmCases[2].values)
	ix, _ := indexObjects(objs)
	report(t, "chart monitoring", checkMonitoring(t, ix))
	dash, ok := ix.configMaps["mediapipe-dashboard"]
	if !ok {
		t.Fatal("no dashboard ConfigMap")
	}
	if dash.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v: Grafana's sidecar looks for grafana_dashboard=1", dash.Labels)
	}
	if got, want := dash.Data["mediapipe.json"], strings.TrimRight(readRepoFile(t, dashboardFile...), "\n"); got != want {
		t.Errorf("the chart's dashboard differs from %s: copy it to deploy/helm/mediapipe/files/mediapipe.json", strings.Join(dashboardFile, "/"))
	}
	report(t, "chart dashboard", checkDashboard([]byte(dash.Data["mediapipe.json"]), exportedNames(t)))
}

// TestHelmChartMatchesKustomize: rendered with its defaults, the chart
// deploys what overlays/production does: the same Deployments (pod specs
// equal but for the ConfigMap's hash suffix), autoscalers, budgets,
// configuration and routes; with keda.enabled, overlays/production-keda's
// ScaledObjects.
func TestHelmChartMatchesKustomize(t *testing.T) {
	for _, c := range []struct{ values, dir string }{
		{"", "deploy/k8s/overlays/production"},
		{"keda: {enabled: true}", "deploy/k8s/overlays/production-keda"},
	} {
		t.Run(filepath.Base(c.dir), func(t *testing.T) {
			report(t, "chart vs "+c.dir, compareBuilds(indexOf(t, renderChart(t, c.values)), indexOf(t, buildKustomization(t, c.dir))))
		})
	}
}

func indexOf(t *testing.T, objs []object) *index {
	t.Helper()
	ix, errs := indexObjects(objs)
	report(t, "index", errs)
	return ix
}

// compareBuilds reports where the chart's objects differ from kustomize's.
func compareBuilds(chart, kust *index) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	deps := func(ix *index) map[string]*appsv1.Deployment {
		m := map[string]*appsv1.Deployment{}
		for _, d := range ix.deployments {
			m[d.Name] = d
		}
		return m
	}
	cd, kd := deps(chart), deps(kust)
	if a, b := slices.Sorted(maps.Keys(cd)), slices.Sorted(maps.Keys(kd)); !slices.Equal(a, b) {
		add("Deployments %v, kustomize has %v", a, b)
	}
	for name, k := range kd {
		c, ok := cd[name]
		if !ok {
			continue
		}
		cs, ks := normalPodSpec(&c.Spec.Template.Spec), normalPodSpec(&k.Spec.Template.Spec)
		if !reflect.DeepEqual(cs, ks) {
			cy, _ := yaml.Marshal(cs)
			ky, _ := yaml.Marshal(ks)
			add("Deployment %s: pod spec differs from kustomize's:\n--- chart\n%s--- kustomize\n%s", name, cy, ky)
		}
		if !reflect.DeepEqual(c.Spec.Strategy, k.Spec.Strategy) || !reflect.DeepEqual(c.Spec.Selector, k.Spec.Selector) {
			add("Deployment %s: strategy or selector differs", name)
		}
	}
	hpas := func(ix *index) map[string]autoscalingv2.HorizontalPodAutoscalerSpec {
		m := map[string]autoscalingv2.HorizontalPodAutoscalerSpec{}
		for _, h := range ix.hpas {
			m[h.Name] = h.Spec
		}
		return m
	}
	if c, k := hpas(chart), hpas(kust); !reflect.DeepEqual(c, k) {
		add("HorizontalPodAutoscalers differ:\nchart %+v\nkustomize %+v", c, k)
	}
	scaled := func(ix *index) map[string]any {
		m := map[string]any{}
		for _, s := range ix.scaled {
			m[s.Metadata.Name] = s.Spec
		}
		return m
	}
	if c, k := scaled(chart), scaled(kust); !reflect.DeepEqual(c, k) {
		add("ScaledObjects differ:\nchart %+v\nkustomize %+v", c, k)
	}
	pdbs := func(ix *index) map[string]string {
		m := map[string]string{}
		for _, p := range ix.pdbs {
			m[p.Name] = fmt.Sprint(p.Spec.MaxUnavailable, p.Spec.MinAvailable, p.Spec.Selector)
		}
		return m
	}
	if c, k := pdbs(chart), pdbs(kust); !reflect.DeepEqual(c, k) {
		add("PodDisruptionBudgets differ: chart %v, kustomize %v", c, k)
	}
	config := func(ix *index) map[string]string {
		for name, cm := range ix.configMaps {
			if strings.HasPrefix(name, configName) {
				return cm.Data
			}
		}
		return nil
	}
	if c, k := config(chart), config(kust); !reflect.DeepEqual(c, k) {
		add("ConfigMap %s differs: chart %v, kustomize %v", configName, c, k)
	}
	routes := func(ix *index) []string {
		var out []string
		for _, ing := range ix.ingresses {
			for _, r := range ing.Spec.Rules {
				for _, p := range r.HTTP.Paths {
					out = append(out, fmt.Sprintf("%s%s %s -> %s:%s", r.Host, p.Path, *p.PathType, p.Backend.Service.Name, p.Backend.Service.Port.Name))
				}
			}
		}
		sort.Strings(out)
		return out
	}
	if c, k := routes(chart), routes(kust); !slices.Equal(c, k) {
		add("Ingress routes differ: chart %v, kustomize %v", c, k)
	}
	policies := func(ix *index) map[string]any {
		m := map[string]any{}
		for _, p := range ix.policies {
			m[p.Name] = p.Spec
		}
		return m
	}
	if c, k := policies(chart), policies(kust); !reflect.DeepEqual(c, k) {
		add("NetworkPolicies differ")
	}
	return errs
}

// normalPodSpec is a copy of s without what legitimately differs between
// the builds: the ConfigMap's hash suffix, the pull policy, the order of
// environment variables.
func normalPodSpec(s *corev1.PodSpec) *corev1.PodSpec {
	s = s.DeepCopy()
	for i := range s.Containers {
		c := &s.Containers[i]
		c.ImagePullPolicy = ""
		for j := range c.EnvFrom {
			if ref := c.EnvFrom[j].ConfigMapRef; ref != nil && strings.HasPrefix(ref.Name, configName) {
				ref.Name = configName
			}
		}
		slices.SortFunc(c.Env, func(a, b corev1.EnvVar) int { return strings.Compare(a.Name, b.Name) })
	}
	return s
}

// TestHelmChartCatchesMistakes: values that break the deployment are
// refused by lint, rendering or the rules.
func TestHelmChartCatchesMistakes(t *testing.T) {
	ch, err := loader.Load(repoPath(chartDir...))
	if err != nil {
		t.Fatal(err)
	}
	render := func(values string) ([]object, error) {
		rv, err := util.ToRenderValues(ch, parseValues(t, values), common.ReleaseOptions{Name: "mediapipe", Namespace: helmNamespace, IsInstall: true}, nil)
		if err != nil {
			return nil, err
		}
		files, err := engine.Render(ch, rv)
		if err != nil {
			return nil, err
		}
		var out []object
		for _, name := range slices.Sorted(maps.Keys(files)) {
			if filepath.Ext(name) != ".yaml" {
				continue
			}
			for _, doc := range strings.Split("\n"+files[name], "\n---") {
				if strings.TrimSpace(stripComments(doc)) == "" {
					continue
				}
				o, err := decodeObject([]byte(doc))
				if err != nil {
					return nil, err
				}
				out = append(out, o)
			}
		}
		return out, nil
	}
	for name, c := range map[string]struct{ values, want string }{
		"no image tag":        {`image: {tag: ""}`, "image.tag is required"},
		"R1 streams":          {`config: {STREAM_REPLICAS: "1"}`, "STREAM_REPLICAS"},
		"a credential in cfg": {`config: {AWS_SECRET_ACCESS_KEY: x}`, "is a credential"},
		"an ingest of one":    {`roles: {ingest: {autoscaling: {minReplicas: 1}}}`, "minReplicas must be at least 2"},
		"short grace":         {`roles: {downloader: {terminationGracePeriodSeconds: 10}}`, "terminationGracePeriodSeconds"},
		"misspelled env":      {`roles: {downloader: {extraEnv: [{name: DOWNLOAD_WORKER, value: "8"}]}}`, "DOWNLOAD_WORKER is not read"},
	} {
		objs, err := render(c.values)
		var msg string
		if err != nil {
			msg = err.Error()
		} else {
			msg = fmt.Sprint(checkObjects(t, objs, true, helmNamespace, false, "s3"))
		}
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: want %q, got %s", name, c.want, msg)
		}
	}
}

// TestHelmChartSharedVolume renders the file-store variant with the NFS
// permissions option: the downloader's init container gives the volume to
// the image's user and mounts it read-write, the ingest read-only, the
// analyzer not at all.
func TestHelmChartSharedVolume(t *testing.T) {
	objs := renderChart(t, "mediaVolume: {enabled: true}\nvolumePermissions: {enabled: true}\nconfig: {MEDIA_STORE: 'file:///media', MEDIA_DIR: /media}")
	ix := indexOf(t, objs)
	mounts := map[string]string{}
	for _, d := range ix.deployments {
		spec := d.Spec.Template.Spec
		for _, m := range spec.Containers[0].VolumeMounts {
			if m.Name == "media" {
				mounts[d.Name] = map[bool]string{true: "ro", false: "rw"}[m.ReadOnly]
			}
		}
		init := slices.IndexFunc(spec.InitContainers, func(c corev1.Container) bool { return c.Name == "volume-permissions" })
		if (d.Name == "mediapipe-downloader") != (init >= 0) {
			t.Errorf("%s: volume-permissions init container present: %v, want only on the downloader", d.Name, init >= 0)
		}
		if init >= 0 {
			c := spec.InitContainers[init]
			if !slices.Equal(c.Command, []string{"chown", "-R", "65532:65532", "/media"}) || c.SecurityContext.Capabilities == nil ||
				!slices.Equal(c.SecurityContext.Capabilities.Add, []corev1.Capability{"CHOWN"}) {
				t.Errorf("%s: init container %v %+v: want chown of /media with CHOWN only", d.Name, c.Command, c.SecurityContext)
			}
		}
	}
	if want := map[string]string{"mediapipe-downloader": "rw", "mediapipe-ingest": "ro"}; !reflect.DeepEqual(mounts, want) {
		t.Errorf("media mounts %v, want %v", mounts, want)
	}
}
