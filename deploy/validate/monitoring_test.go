package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// monitoringGroup is the Prometheus Operator's API group: its PodMonitor
// and PrometheusRule are the only kinds of it the manifests use.
const monitoringGroup = "monitoring.coreos.com"

// podMonitor mirrors the fields of the Prometheus Operator's PodMonitor
// (monitoring.coreos.com/v1) the manifests use, so that a misspelled field
// fails strict decoding as it would fail the CRD's schema.
type podMonitor struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		PodTargetLabels   []string             `json:"podTargetLabels,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		PodMetricsEndpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
			HonorLabels   bool   `json:"honorLabels,omitempty"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// prometheusRule mirrors a PrometheusRule; its groups are judged by
// Prometheus's own rule parser (parseRules).
type prometheusRule struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Groups []any `json:"groups"`
	} `json:"spec"`
}

func decodeMonitoring(y []byte, gvk schema.GroupVersionKind) (object, error) {
	if gvk.Version != "v1" {
		return object{}, fmt.Errorf("%s: want %s/v1", gvk, monitoringGroup)
	}
	var o object
	switch gvk.Kind {
	case "PodMonitor":
		pm := &podMonitor{}
		if err := yaml.UnmarshalStrict(y, pm); err != nil {
			return object{}, fmt.Errorf("%s: %w", gvk.Kind, err)
		}
		o = object{GVK: gvk, Name: pm.Metadata.Name, Namespace: pm.Metadata.Namespace, Obj: pm}
	case "PrometheusRule":
		pr := &prometheusRule{}
		if err := yaml.UnmarshalStrict(y, pr); err != nil {
			return object{}, fmt.Errorf("%s: %w", gvk.Kind, err)
		}
		o = object{GVK: gvk, Name: pr.Metadata.Name, Namespace: pr.Metadata.Namespace, Obj: pr}
	default:
		return object{}, fmt.Errorf("%s: only PodMonitor and PrometheusRule are known of %s", gvk, monitoringGroup)
	}
	return o, nil
}

// checkMonitoring: the PodMonitors scrape every mediapipe Deployment's pods
// on a port they declare, at /metrics; the PrometheusRules parse and hold
// exactly the groups of deploy/observability/alerts.yaml.
func checkMonitoring(t *testing.T, ix *index) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(ix.podMonitors) == 0 {
		add("no PodMonitor")
	}
	for _, d := range ix.deployments {
		if !slices.ContainsFunc(ix.podMonitors, func(pm *podMonitor) bool { return scrapes(pm, d) }) {
			add("Deployment %s: no PodMonitor scrapes its pods on a declared port at /metrics", d.Name)
		}
	}
	want := alertGroups(t)
	if len(ix.rules) != 1 {
		add("%d PrometheusRules, want 1", len(ix.rules))
	}
	for _, r := range ix.rules {
		if !reflect.DeepEqual(r.Spec.Groups, want) {
			add("PrometheusRule %s: its groups differ from %s: copy them again", r.Metadata.Name, strings.Join(alertsFile, "/"))
		}
		y, err := yaml.Marshal(map[string]any{"groups": r.Spec.Groups})
		if err != nil {
			add("PrometheusRule %s: %v", r.Metadata.Name, err)
			continue
		}
		if _, perrs := parseRules(y); len(perrs) > 0 {
			add("PrometheusRule %s: %v", r.Metadata.Name, perrs)
		}
	}
	return errs
}

// scrapes says whether pm selects d's pods on a named container port.
func scrapes(pm *podMonitor, d *appsv1.Deployment) bool {
	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		return false
	}
	for _, ep := range pm.Spec.PodMetricsEndpoints {
		for _, c := range d.Spec.Template.Spec.Containers {
			if slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == ep.Port && p.ContainerPort == metricsPort }) &&
				(ep.Path == "" || ep.Path == "/metrics") {
				return true
			}
		}
	}
	return false
}

// alertGroups returns the groups of deploy/observability/alerts.yaml as
// generic YAML, to compare the copies with.
func alertGroups(t *testing.T) []any {
	t.Helper()
	var f struct {
		Groups []any `json:"groups"`
	}
	if err := yaml.Unmarshal([]byte(readRepoFile(t, alertsFile...)), &f); err != nil {
		t.Fatalf("%s: %v", strings.Join(alertsFile, "/"), err)
	}
	return f.Groups
}

// buildWithComponent builds an overlay with an extra component, as an
// operator's kustomization adding it would.
func buildWithComponent(t *testing.T, overlay, namespace, component string) []object {
	t.Helper()
	dir := t.TempDir()
	rel := func(p string) string { // kustomize refuses absolute roots
		a, err := filepath.Abs(repoPath(p))
		if err == nil {
			a, err = filepath.Rel(dir, a)
		}
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources:\n  - %s\ncomponents:\n  - %s\n", namespace, rel(overlay), rel(component))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return buildKustomizationAt(t, dir, overlay+" + "+component)
}

// TestMonitoringComponent adds components/monitoring to the production
// overlays: everything still passes the deployment's rules, and the
// monitoring objects are right.
func TestMonitoringComponent(t *testing.T) {
	for _, k := range kustomizations {
		if !k.overlay {
			continue
		}
		t.Run(filepath.Base(k.dir), func(t *testing.T) {
			objs := buildWithComponent(t, k.dir, k.namespace, "deploy/k8s/components/monitoring")
			report(t, k.dir+" + monitoring", checkObjects(t, objs, k.overlay, k.namespace, k.keda, k.store))
			ix, _ := indexObjects(objs)
			report(t, k.dir+" + monitoring", checkMonitoring(t, ix))
		})
	}
}

// TestMonitoringCatchesMistakes: a PodMonitor on the wrong port and rules
// that drifted from alerts.yaml are refused.
func TestMonitoringCatchesMistakes(t *testing.T) {
	for name, c := range map[string]struct {
		breakIt func(*index)
		want    string
	}{
		"wrong port": {func(ix *index) { ix.podMonitors[0].Spec.PodMetricsEndpoints[0].Port = "metrics" }, "no PodMonitor scrapes"},
		"drifted rules": {func(ix *index) {
			ix.rules[0].Spec.Groups = ix.rules[0].Spec.Groups[:0]
		}, "differ from"},
	} {
		objs := buildWithComponent(t, "deploy/k8s/overlays/production", "mediapipe", "deploy/k8s/components/monitoring")
		ix, _ := indexObjects(objs)
		c.breakIt(ix)
		errs := checkMonitoring(t, ix)
		if !slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), c.want) }) {
			t.Errorf("%s: want an error naming %q, got %v", name, c.want, errs)
		}
	}
}
