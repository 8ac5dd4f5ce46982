package validate

import (
	"errors"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRulesCatchMistakes breaks the production build in one place at a time
// and requires the rules to name the problem: the checks above are only
// worth their green if they can turn red.
func TestRulesCatchMistakes(t *testing.T) {
	find := func(objs []object, kind, name string) any {
		for _, o := range objs {
			if o.GVK.Kind == kind && o.Name == name {
				return o.Obj
			}
		}
		t.Fatalf("no %s/%s in the build", kind, name)
		return nil
	}
	dep := func(objs []object, name string) *appsv1.Deployment {
		return find(objs, "Deployment", name).(*appsv1.Deployment)
	}
	container := func(objs []object, name string) *corev1.Container {
		return &dep(objs, name).Spec.Template.Spec.Containers[0]
	}
	config := func(objs []object) *corev1.ConfigMap {
		for _, o := range objs {
			if cm, ok := o.Obj.(*corev1.ConfigMap); ok {
				return cm
			}
		}
		t.Fatal("no ConfigMap")
		return nil
	}
	const prod, withKEDA, sharedVolume = 1, 2, 3
	cases := []struct {
		name, want string
		build      int // an index of kustomizations
		breakIt    func([]object) []object
	}{
		{"no readiness probe", "no readiness httpGet probe", prod, func(o []object) []object {
			container(o, "mediapipe-ingest").ReadinessProbe = nil
			return o
		}},
		{"replicas beside the HPA", "while an autoscaler owns the count", prod, func(o []object) []object {
			two := int32(2)
			dep(o, "mediapipe-ingest").Spec.Replicas = &two
			return o
		}},
		{"replicas beside KEDA", "while an autoscaler owns the count", withKEDA, func(o []object) []object {
			two := int32(2)
			dep(o, "mediapipe-downloader").Spec.Replicas = &two
			return o
		}},
		{"webhook tokens in the access log", "where a ?token= secret would land", prod, func(o []object) []object {
			delete(find(o, "Ingress", "mediapipe-webhooks").(*networkingv1.Ingress).Annotations, accessLogAnnotation)
			return o
		}},
		{"R1 streams", "STREAM_REPLICAS", prod, func(o []object) []object {
			config(o).Data["STREAM_REPLICAS"] = "1"
			return o
		}},
		{"misspelled variable", "NATS_URLS is not read by mediapipe", prod, func(o []object) []object {
			c := container(o, "mediapipe-downloader")
			c.Env = append(c.Env, corev1.EnvVar{Name: "NATS_URLS", Value: "nats://x:4222"})
			return o
		}},
		{"ReadWriteOnce media", "must be ReadWriteMany", sharedVolume, func(o []object) []object {
			find(o, "PersistentVolumeClaim", "mediapipe-media").(*corev1.PersistentVolumeClaim).Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
			return o
		}},
		{"downloader mounts media read-only", "mount it read-write", sharedVolume, func(o []object) []object {
			c := container(o, "mediapipe-downloader")
			for i := range c.VolumeMounts {
				if c.VolumeMounts[i].Name == "media" {
					c.VolumeMounts[i].ReadOnly = true
				}
			}
			return o
		}},
		{"a production overlay mounts a RWX volume", "no pod needs a shared disk", prod, func(o []object) []object {
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "mediapipe-media", Namespace: "mediapipe"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}}}
			spec := &dep(o, "mediapipe-downloader").Spec.Template.Spec
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "media", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.Name}}})
			spec.Containers[0].VolumeMounts = append(spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "media", MountPath: "/media"})
			return append(o, object{GVK: corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), Name: pvc.Name, Namespace: pvc.Namespace, Obj: pvc})
		}},
		{"the production ConfigMap on the file store", "is not s3://BUCKET/PREFIX", prod, func(o []object) []object {
			config(o).Data["MEDIA_STORE"] = "file:///media"
			return o
		}},
		{"a downloader overriding MEDIA_STORE", "lacks MEDIA_STORE=s3://", withKEDA, func(o []object) []object {
			c := container(o, "mediapipe-downloader")
			c.Env = append(c.Env, corev1.EnvVar{Name: "MEDIA_STORE", Value: "file:///data/media"})
			return o
		}},
		{"the downloader without the S3 secret key", "AWS_SECRET_ACCESS_KEY must come from Secret", prod, func(o []object) []object {
			c := container(o, "mediapipe-downloader")
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "AWS_SECRET_ACCESS_KEY" })
			return o
		}},
		{"the S3 key as a literal", "AWS_ACCESS_KEY_ID must come from Secret", prod, func(o []object) []object {
			for i, e := range container(o, "mediapipe-ingest").Env {
				if e.Name == "AWS_ACCESS_KEY_ID" {
					container(o, "mediapipe-ingest").Env[i] = corev1.EnvVar{Name: e.Name, Value: "AKIAEXAMPLE"}
				}
			}
			return o
		}},
		{"the S3 secret in the ConfigMap", "AWS_SECRET_ACCESS_KEY is a credential", prod, func(o []object) []object {
			config(o).Data["AWS_SECRET_ACCESS_KEY"] = "x"
			return o
		}},
		{"the analyzer holding the bucket's key", "reads AWS_ACCESS_KEY_ID, which it never uses", prod, func(o []object) []object {
			c := container(o, "mediapipe-analyzer")
			for _, e := range container(o, "mediapipe-downloader").Env {
				if e.Name == "AWS_ACCESS_KEY_ID" {
					c.Env = append(c.Env, *e.DeepCopy())
				}
			}
			return o
		}},
		{"no region nor endpoint", "set AWS_REGION", prod, func(o []object) []object {
			delete(config(o).Data, "AWS_REGION")
			return o
		}},
		{"the shared-volume variant on S3", "the file store is file://", sharedVolume, func(o []object) []object {
			config(o).Data["MEDIA_STORE"] = "s3://mediapipe-media/prod"
			return o
		}},
		{"egress closed to the media store", "cannot reach the media store", prod, func(o []object) []object {
			tcp := corev1.ProtocolTCP
			p := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "mediapipe-egress", Namespace: "mediapipe"},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "mediapipe"}},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
					Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{
						{Protocol: &tcp, Port: ptrPort(4222)}, {Protocol: &tcp, Port: ptrPort(5432)}}}},
				}}
			return append(o, object{GVK: networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"), Name: p.Name, Namespace: p.Namespace, Obj: p})
		}},
		{"unpinned image", "pins a tag or digest", prod, func(o []object) []object {
			container(o, "mediapipe-analyzer").Image = "registry.example.com/multichat/mediapipe:latest"
			return o
		}},
		{"no memory limit", "limits must set memory", prod, func(o []object) []object {
			delete(container(o, "mediapipe-analyzer").Resources.Limits, corev1.ResourceMemory)
			return o
		}},
		{"root", "non-root", prod, func(o []object) []object {
			dep(o, "mediapipe-ingest").Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
			return o
		}},
		{"short grace period", "terminationGracePeriodSeconds", prod, func(o []object) []object {
			g := int64(30)
			dep(o, "mediapipe-downloader").Spec.Template.Spec.TerminationGracePeriodSeconds = &g
			return o
		}},
		{"database password in the ConfigMap", "belongs in Secret", prod, func(o []object) []object {
			config(o).Data["DATABASE_URL"] = "postgres://u:p@h/db"
			return o
		}},
		{"no PDB", "0 PodDisruptionBudgets", prod, func(o []object) []object {
			out := o[:0]
			for _, x := range o {
				if p, ok := x.Obj.(*policyv1.PodDisruptionBudget); !ok || p.Name != "mediapipe-analyzer" {
					out = append(out, x)
				}
			}
			return out
		}},
		{"HPA and ScaledObject on one Deployment", "want exactly one", withKEDA, func(o []object) []object {
			h := find(o, "HorizontalPodAutoscaler", "mediapipe-ingest").(*autoscalingv2.HorizontalPodAutoscaler).DeepCopy()
			h.Name, h.Spec.ScaleTargetRef.Name = "extra", "mediapipe-downloader"
			return append(o, object{GVK: autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), Name: h.Name, Namespace: h.Namespace, Obj: h})
		}},
		{"KEDA watches the wrong consumer", "the downloader consumes DOWNLOADS/downloader", withKEDA, func(o []object) []object {
			find(o, "ScaledObject", "mediapipe-downloader").(*scaledObject).Spec.Triggers[0].Metadata["consumer"] = "analyzer"
			return o
		}},
		{"KEDA endpoint in another namespace", "natsServerMonitoringEndpoint", withKEDA, func(o []object) []object {
			find(o, "ScaledObject", "mediapipe-analyzer").(*scaledObject).Spec.Triggers[0].Metadata["natsServerMonitoringEndpoint"] = "nats-headless.nats.svc.cluster.local:8222"
			return o
		}},
		{"Service selects nothing", "selects no Deployment", prod, func(o []object) []object {
			find(o, "Service", "mediapipe-ingest").(*corev1.Service).Spec.Selector["app.kubernetes.io/component"] = "ingester"
			return o
		}},
		{"a role without the NATS password", "NATS_PASSWORD must come from Secret", prod, func(o []object) []object {
			c := container(o, "mediapipe-downloader")
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "NATS_PASSWORD" })
			return o
		}},
		{"the NATS password optional", "NATS_PASSWORD must come from Secret", prod, func(o []object) []object {
			for _, e := range container(o, "mediapipe-ingest").Env {
				if e.Name == "NATS_PASSWORD" {
					optional := true
					e.ValueFrom.SecretKeyRef.Optional = &optional
				}
			}
			return o
		}},
		{"the NATS password in the ConfigMap", "NATS_PASSWORD is a credential", prod, func(o []object) []object {
			config(o).Data["NATS_PASSWORD"] = "n0123"
			return o
		}},
		{"credentials in NATS_URL", "carries credentials", prod, func(o []object) []object {
			config(o).Data["NATS_URL"] = "nats://mediapipe:n0123@nats:4222"
			return o
		}},
		{"no NetworkPolicy", "no NetworkPolicy selects a NATS server", prod, func(o []object) []object {
			return slices.DeleteFunc(o, func(x object) bool { return x.GVK.Kind == "NetworkPolicy" })
		}},
		{"the policy selects another NATS release", "no NetworkPolicy selects a NATS server", prod, func(o []object) []object {
			find(o, "NetworkPolicy", "nats").(*networkingv1.NetworkPolicy).Spec.PodSelector.MatchLabels["app.kubernetes.io/instance"] = "nats-old"
			return o
		}},
		{"NATS clients from anywhere", "another pod of namespace mediapipe reaches a NATS server on 4222", prod, func(o []object) []object {
			find(o, "NetworkPolicy", "nats").(*networkingv1.NetworkPolicy).Spec.Ingress[0].From = nil
			return o
		}},
		{"NATS routes open to mediapipe", "reaches the NATS servers on 6222", prod, func(o []object) []object {
			p := find(o, "NetworkPolicy", "nats").(*networkingv1.NetworkPolicy)
			p.Spec.Ingress[0].Ports = append(p.Spec.Ingress[0].Ports, p.Spec.Ingress[1].Ports...)
			return o
		}},
		{"NATS monitoring from every namespace", "a pod of another namespace reaches a NATS server on 8222", prod, func(o []object) []object {
			p := find(o, "NetworkPolicy", "nats").(*networkingv1.NetworkPolicy)
			for i := range p.Spec.Ingress {
				for _, port := range p.Spec.Ingress[i].Ports {
					if port.Port.IntValue() == 8222 {
						p.Spec.Ingress[i].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}
					}
				}
			}
			return o
		}},
		{"NATS routes closed", "cannot reach each other's routes", prod, func(o []object) []object {
			p := find(o, "NetworkPolicy", "nats").(*networkingv1.NetworkPolicy)
			p.Spec.Ingress = slices.Delete(p.Spec.Ingress, 1, 2)
			return o
		}},
		{"KEDA locked out of NATS monitoring", "KEDA's operator (namespace keda) cannot read", withKEDA, func(o []object) []object {
			p := find(o, "NetworkPolicy", "nats").(*networkingv1.NetworkPolicy)
			p.Spec.Ingress = slices.DeleteFunc(p.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool {
				return len(r.Ports) == 1 && r.Ports[0].Port.IntValue() == 8222
			})
			return o
		}},
		{"PostgreSQL open to other namespaces", "a pod with mediapipe's labels in another namespace reaches PostgreSQL on 5432", prod, func(o []object) []object {
			find(o, "NetworkPolicy", "postgres").(*networkingv1.NetworkPolicy).Spec.Ingress[0].From[0].NamespaceSelector = &metav1.LabelSelector{}
			return o
		}},
		{"PostgreSQL closed to mediapipe", "cannot reach PostgreSQL on 5432", prod, func(o []object) []object {
			find(o, "NetworkPolicy", "postgres").(*networkingv1.NetworkPolicy).Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] = "mediapipe-old"
			return o
		}},
		{"PostgreSQL through an address block", "reaches PostgreSQL on 5432", prod, func(o []object) []object {
			p := find(o, "NetworkPolicy", "postgres").(*networkingv1.NetworkPolicy)
			p.Spec.Ingress[0].From = append(p.Spec.Ingress[0].From, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}})
			return o
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := kustomizations[c.build]
			objs := c.breakIt(buildKustomization(t, k.dir))
			err := errors.Join(checkObjects(t, objs, k.overlay, k.namespace, k.keda, k.store)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("want a problem mentioning %q, got: %v", c.want, err)
			}
		})
	}
}
