package validate

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8sjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// scheme knows the built-in API groups the manifests may use. A kind
// outside it (a typo, a removed API version) fails to decode.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, autoscalingv2.AddToScheme,
		policyv1.AddToScheme, networkingv1.AddToScheme, rbacv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strict decodes YAML into the compiled API types and fails on unknown or
// duplicate fields and on values of the wrong type, like the API server's
// strict field validation (kubectl apply --validate=strict).
var strict = k8sjson.NewSerializerWithOptions(k8sjson.DefaultMetaFactory, scheme, scheme,
	k8sjson.SerializerOptions{Yaml: true, Strict: true})

// object is one decoded manifest.
type object struct {
	GVK       schema.GroupVersionKind
	Name      string
	Namespace string
	Obj       any // a typed API object, or *scaledObject
}

func (o object) String() string {
	return fmt.Sprintf("%s/%s", o.GVK.Kind, o.Name)
}

// decodeObject decodes one manifest strictly: built-in kinds into their API
// types, KEDA's ScaledObject into scaledObject.
func decodeObject(y []byte) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(y, &tm); err != nil {
		return object{}, err
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return object{}, fmt.Errorf("no apiVersion or kind")
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		return object{}, err
	}
	gvk := gv.WithKind(tm.Kind)
	if gv.Group == "keda.sh" {
		if gvk != kedaScaledObject {
			return object{}, fmt.Errorf("%s: only %s is known of KEDA", gvk, kedaScaledObject)
		}
		so := &scaledObject{}
		if err := yaml.UnmarshalStrict(y, so); err != nil {
			return object{}, fmt.Errorf("%s: %w", gvk.Kind, err)
		}
		return object{GVK: gvk, Name: so.Metadata.Name, Namespace: so.Metadata.Namespace, Obj: so}, nil
	}
	if gv.Group == monitoringGroup {
		return decodeMonitoring(y, gvk)
	}
	obj, got, err := strict.Decode(y, nil, nil)
	if err != nil {
		return object{}, fmt.Errorf("%s: %w", gvk, err)
	}
	meta, err := metaOf(obj)
	if err != nil {
		return object{}, err
	}
	return object{GVK: *got, Name: meta.GetName(), Namespace: meta.GetNamespace(), Obj: obj}, nil
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", obj)
	}
	return m, nil
}

// buildKustomization runs kustomize (its library, at the version pinned in
// go.mod: the same code as `kustomize build`) on a directory of the
// repository and decodes every resulting object strictly.
func buildKustomization(t *testing.T, dir string) []object {
	t.Helper()
	return buildKustomizationAt(t, repoPath(dir), dir)
}

// buildKustomizationAt builds the kustomization in path, named dir in
// messages.
func buildKustomizationAt(t *testing.T, path, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), path)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []object
	var errs []error
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		o, err := decodeObject(y)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", r.GetKind(), r.GetName(), err))
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(o.Name) {
			errs = append(errs, fmt.Errorf("%s: name: %s", o, msg))
		}
		out = append(out, o)
	}
	report(t, "decoding "+dir, errs)
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// kedaScaledObject is the one custom resource the manifests use.
var kedaScaledObject = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}

// scaledObject mirrors the fields of KEDA's ScaledObject (keda.sh/v1alpha1)
// so that a misspelled field fails strict decoding, as it would fail KEDA's
// CRD schema.
type scaledObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		ScaleTargetRef struct {
			APIVersion             string `json:"apiVersion,omitempty"`
			Kind                   string `json:"kind,omitempty"`
			Name                   string `json:"name"`
			EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
		} `json:"scaleTargetRef"`
		PollingInterval       *int32 `json:"pollingInterval,omitempty"`
		InitialCooldownPeriod *int32 `json:"initialCooldownPeriod,omitempty"`
		CooldownPeriod        *int32 `json:"cooldownPeriod,omitempty"`
		IdleReplicaCount      *int32 `json:"idleReplicaCount,omitempty"`
		MinReplicaCount       *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount       *int32 `json:"maxReplicaCount,omitempty"`
		Advanced              *struct {
			RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
			HorizontalPodAutoscalerConfig *struct {
				Name     string                                         `json:"name,omitempty"`
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []struct {
			Type              string            `json:"type"`
			Name              string            `json:"name,omitempty"`
			UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
			MetricType        string            `json:"metricType,omitempty"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
		Fallback *struct {
			FailureThreshold int32 `json:"failureThreshold"`
			Replicas         int32 `json:"replicas"`
		} `json:"fallback,omitempty"`
	} `json:"spec"`
}

// TestStrictDecodingCatchesMistakes shows that the decoder is as strict as
// claimed: each broken manifest below must be refused.
func TestStrictDecodingCatchesMistakes(t *testing.T) {
	good := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  selector:
    matchLabels: {a: b}
  template:
    metadata:
      labels: {a: b}
    spec:
      containers:
        - name: c
          image: i
          resources:
            requests:
              memory: 64Mi
`
	if _, err := decodeObject([]byte(good)); err != nil {
		t.Fatalf("a valid Deployment refused: %v", err)
	}
	for name, bad := range map[string]string{
		"unknown field":      strings.Replace(good, "image: i", "image: i\n          imagePullPolice: Always", 1),
		"misplaced field":    strings.Replace(good, "  selector:", "  replicas: 2\n  containers: []\n  selector:", 1),
		"wrong type":         strings.Replace(good, "name: c", "name: [c]", 1),
		"bad quantity":       strings.Replace(good, "memory: 64Mi", "memory: lots", 1),
		"unknown kind":       strings.Replace(good, "kind: Deployment", "kind: Deploymnet", 1),
		"removed version":    strings.Replace(good, "apps/v1", "extensions/v1beta1", 1),
		"duplicate field":    strings.Replace(good, "name: x", "name: x\n  name: y", 1),
		"unknown KEDA field": "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: s}\nspec:\n  scaleTargetRef: {name: d}\n  maxReplicas: 3\n  triggers: []\n",
	} {
		if _, err := decodeObject([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
