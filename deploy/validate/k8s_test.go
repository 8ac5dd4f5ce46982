package validate

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// The kustomizations that must build, and what is expected of each.
var kustomizations = []struct {
	dir       string
	overlay   bool   // deployable: namespaced, image pinned
	namespace string // for overlays
	keda      bool   // workers scale with KEDA instead of HPAs
	store     string // "s3" (a bucket, no shared disk) or "file" (a ReadWriteMany volume)
}{
	{dir: "deploy/k8s/base", store: "s3"},
	{dir: "deploy/k8s/overlays/production", overlay: true, namespace: "mediapipe", store: "s3"},
	{dir: "deploy/k8s/overlays/production-keda", overlay: true, namespace: "mediapipe", keda: true, store: "s3"},
	{dir: "deploy/k8s/overlays/production-shared-volume", overlay: true, namespace: "mediapipe", store: "file"},
}

// roles are the Deployments, with what each needs.
var roles = map[string]struct {
	media     string // "rw", "ro" or "" (never touches the media store)
	minGrace  int64  // terminationGracePeriodSeconds covering its soft stop
	minScaler int32  // at least this many replicas at any time
}{
	// HTTP shutdown 15 s.
	"ingest": {media: "ro", minGrace: 20, minScaler: 2},
	// HTTP 15 s, then batches get StopTimeout 20 s, then 20 s after cancellation.
	"analyzer": {minGrace: 55, minScaler: 1},
	// HTTP 15 s, then downloads get StopTimeout 30 s, then 30 s after cancellation.
	"downloader": {media: "rw", minGrace: 75, minScaler: 1},
	// HTTP 15 s, then posts get CALLBACK_TIMEOUT + 5 s (15 s), then 15 s after cancellation.
	"deliverer": {minGrace: 45, minScaler: 1},
}

const (
	secretName    = "mediapipe-secrets"
	configName    = "mediapipe-config"
	imageName     = "mediapipe"
	runAsUser     = 65532 // the image's USER
	componentKey  = "app.kubernetes.io/component"
	metricsPort   = 8080
	monitorSuffix = ".svc.cluster.local:8222"
	webhookPath   = "/webhooks/"
	// accessLogAnnotation turns ingress-nginx's access log off for one
	// Ingress (its log format is cluster-wide).
	accessLogAnnotation = "nginx.ingress.kubernetes.io/enable-access-log"
)

func TestKustomizations(t *testing.T) {
	for _, k := range kustomizations {
		t.Run(filepath.Base(k.dir), func(t *testing.T) {
			objs := buildKustomization(t, k.dir)
			report(t, k.dir, checkObjects(t, objs, k.overlay, k.namespace, k.keda, k.store))
			counts := map[string]int{}
			for _, o := range objs {
				counts[o.GVK.Kind]++
			}
			t.Logf("%s: %d objects %v", k.dir, len(objs), counts)
		})
	}
}

// index holds a build's objects by kind.
type index struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	jobs        []*batchv1.Job
	pvcs        map[string]*corev1.PersistentVolumeClaim
	configMaps  map[string]*corev1.ConfigMap
	sas         map[string]bool
	ingresses   []*networkingv1.Ingress
	policies    []*networkingv1.NetworkPolicy
	scaled      []*scaledObject
	secrets     []*corev1.Secret
	podMonitors []*podMonitor
	rules       []*prometheusRule
}

func indexObjects(objs []object) (*index, []error) {
	ix := &index{pvcs: map[string]*corev1.PersistentVolumeClaim{}, configMaps: map[string]*corev1.ConfigMap{}, sas: map[string]bool{}}
	var errs []error
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			ix.deployments = append(ix.deployments, v)
		case *corev1.Service:
			ix.services = append(ix.services, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			ix.hpas = append(ix.hpas, v)
		case *policyv1.PodDisruptionBudget:
			ix.pdbs = append(ix.pdbs, v)
		case *batchv1.Job:
			ix.jobs = append(ix.jobs, v)
		case *corev1.PersistentVolumeClaim:
			ix.pvcs[v.Name] = v
		case *corev1.ConfigMap:
			ix.configMaps[v.Name] = v
		case *corev1.ServiceAccount:
			ix.sas[v.Name] = true
		case *networkingv1.Ingress:
			ix.ingresses = append(ix.ingresses, v)
		case *networkingv1.NetworkPolicy:
			ix.policies = append(ix.policies, v)
		case *scaledObject:
			ix.scaled = append(ix.scaled, v)
		case *corev1.Secret:
			ix.secrets = append(ix.secrets, v)
		case *podMonitor:
			ix.podMonitors = append(ix.podMonitors, v)
		case *prometheusRule:
			ix.rules = append(ix.rules, v)
		case *corev1.Namespace:
		default:
			errs = append(errs, fmt.Errorf("%s: a kind this check does not know how to judge", o))
		}
	}
	return ix, errs
}

func checkObjects(t *testing.T, objs []object, overlay bool, namespace string, keda bool, store string) []error {
	ix, errs := indexObjects(objs)
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if len(ix.secrets) > 0 {
		add("the manifests generate Secrets %v: secrets are referenced (%s), never committed", ix.secrets[0].Name, secretName)
	}
	if overlay {
		for _, o := range objs {
			if o.GVK.Kind != "Namespace" && o.Namespace != namespace {
				add("%s: namespace %q, want %q", o, o.Namespace, namespace)
			}
		}
	}

	if overlay {
		errs = append(errs, checkNetworkPolicies(ix, namespace, keda)...)
	}
	if store == "s3" {
		if overlay {
			env := map[string]string{}
			for name, cm := range ix.configMaps {
				if strings.HasPrefix(name, configName) {
					env = cm.Data
				}
			}
			errs = append(errs, checkStoreEgress(ix, namespace, env)...)
		}
		for _, pvc := range ix.pvcs {
			if slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
				add("PersistentVolumeClaim %s is ReadWriteMany: with the media in a bucket no pod needs a shared disk (components/shared-volume is the file-store variant)", pvc.Name)
			}
		}
	}

	// The shared configuration.
	var cfg *corev1.ConfigMap
	for name, cm := range ix.configMaps {
		if strings.HasPrefix(name, configName) {
			cfg = cm
		}
	}
	env := map[string]string{}
	if cfg == nil {
		add("no ConfigMap %s", configName)
	} else {
		for k, v := range cfg.Data {
			if err := checkEnvName(t, "ConfigMap "+cfg.Name, k); err != nil {
				errs = append(errs, err)
			}
			env[k] = v
		}
		if env["STREAM_REPLICAS"] != "3" {
			add("ConfigMap %s: STREAM_REPLICAS=%q: production streams are R3", cfg.Name, env["STREAM_REPLICAS"])
		}
		if u, err := url.Parse(strings.Split(env["NATS_URL"], ",")[0]); err != nil || u.Scheme != "nats" || u.Host == "" {
			add("ConfigMap %s: NATS_URL=%q is not a nats:// URL", cfg.Name, env["NATS_URL"])
		}
		switch store {
		case "s3":
			if _, _, err := parseS3Store(env["MEDIA_STORE"]); err != nil {
				add("ConfigMap %s: %v", cfg.Name, err)
			}
			if overlay && env["AWS_REGION"] == "" && env["AWS_ENDPOINT_URL_S3"] == "" && env["AWS_ENDPOINT_URL"] == "" {
				add("ConfigMap %s: set AWS_REGION (AWS S3) or AWS_ENDPOINT_URL_S3 (an S3-compatible server)", cfg.Name)
			}
		case "file":
			if !strings.HasPrefix(env["MEDIA_DIR"], "/") || env["MEDIA_STORE"] != "file://"+env["MEDIA_DIR"] {
				add("ConfigMap %s: MEDIA_STORE=%q, MEDIA_DIR=%q: the file store is file:// and the absolute path of the media volume", cfg.Name, env["MEDIA_STORE"], env["MEDIA_DIR"])
			}
		}
		for _, k := range append(append([]string{"DATABASE_URL"}, natsCredentialVars...), awsCredentialVars...) {
			if _, ok := env[k]; ok {
				add("ConfigMap %s: %s is a credential: it belongs in Secret %s", cfg.Name, k, secretName)
			}
		}
		for _, u := range strings.Split(env["NATS_URL"], ",") {
			if pu, err := url.Parse(u); err == nil && pu.User != nil {
				add("ConfigMap %s: NATS_URL %q carries credentials: they belong in Secret %s (NATS_USER, NATS_PASSWORD)", cfg.Name, u, secretName)
			}
		}
	}

	// One Deployment per role, each judged.
	seen := map[string]*appsv1.Deployment{}
	for _, d := range ix.deployments {
		role := d.Spec.Template.Labels[componentKey]
		if _, ok := roles[role]; !ok {
			add("Deployment %s: component label %q is not a role (%v)", d.Name, role, keys(roles))
			continue
		}
		if seen[role] != nil {
			add("Deployments %s and %s both run %s", seen[role].Name, d.Name, role)
		}
		seen[role] = d
		errs = append(errs, checkPodSpec(t, "Deployment "+d.Name, &d.Spec.Template.Spec, role, ix, env, overlay, store)...)
		errs = append(errs, checkDeployment(d, role)...)
		errs = append(errs, checkScaling(t, d, role, ix, keda, namespace)...)
		errs = append(errs, checkPDB(d, ix)...)
	}
	for role := range roles {
		if seen[role] == nil {
			add("no Deployment runs %s", role)
		}
	}

	// The migration Job.
	var migrate *batchv1.Job
	for _, j := range ix.jobs {
		if c := j.Spec.Template.Spec.Containers; len(c) == 1 && slices.Equal(c[0].Args, []string{"migrate"}) {
			migrate = j
		}
	}
	if migrate == nil {
		add("no Job runs `mediapipe migrate`")
	} else {
		errs = append(errs, checkPodSpec(t, "Job "+migrate.Name, &migrate.Spec.Template.Spec, "migrate", ix, env, overlay, store)...)
		if p := migrate.Spec.Template.Spec.RestartPolicy; p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
			add("Job %s: restartPolicy %q", migrate.Name, p)
		}
		if migrate.Spec.BackoffLimit == nil || migrate.Spec.ActiveDeadlineSeconds == nil {
			add("Job %s: set backoffLimit and activeDeadlineSeconds so a failing migration stops", migrate.Name)
		}
	}

	// Services select pods and name their ports.
	for _, s := range ix.services {
		var matched bool
		for _, d := range ix.deployments {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				matched = true
				for _, p := range s.Spec.Ports {
					if p.TargetPort.StrVal != "" && !hasPort(d.Spec.Template.Spec.Containers, p.TargetPort.StrVal) {
						add("Service %s: targetPort %q is no container port of %s", s.Name, p.TargetPort.StrVal, d.Name)
					}
				}
			}
		}
		if !matched {
			add("Service %s selects no Deployment's pods", s.Name)
		}
	}
	for _, ing := range ix.ingresses {
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				if p.Backend.Service == nil || !serviceHasPort(ix.services, p.Backend.Service.Name, p.Backend.Service.Port) {
					add("Ingress %s: path %s: backend is no Service port of the build", ing.Name, p.Path)
				}
				if p.Path == webhookPath && ing.Annotations[accessLogAnnotation] != "false" {
					add("Ingress %s: path %s writes access logs, where a ?token= secret would land: set %s: \"false\" (or scrub the controller's log format)", ing.Name, p.Path, accessLogAnnotation)
				}
				if strings.HasPrefix(p.Path, "/admin") || p.Path == "/metrics" || p.Path == "/" {
					add("Ingress %s: path %s exposes operators' routes to the outside", ing.Name, p.Path)
				}
			}
		}
	}
	return errs
}

func checkDeployment(d *appsv1.Deployment, role string) []error {
	var errs []error
	add := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: "+format, append([]any{d.Name}, a...)...))
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		add("selector %v does not select its own pods %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	if s := d.Spec.Strategy.RollingUpdate; s == nil || s.MaxUnavailable == nil || s.MaxUnavailable.IntValue() != 0 {
		add("rolling updates must keep every replica until its successor is ready (maxUnavailable: 0)")
	}
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < roles[role].minGrace {
		add("terminationGracePeriodSeconds must be at least %d s: the soft stop of a %s", roles[role].minGrace, role)
	}
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" || ann["prometheus.io/port"] != strconv.Itoa(metricsPort) {
		add("pods are not annotated for Prometheus scraping of /metrics on %d", metricsPort)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{role}) {
		add("container args %v, want [%s]", c.Args, role)
	}
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			add("no %s httpGet probe", what)
			return
		}
		if p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
			add("%s probe is %s on %s, want %s on port http", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
	}
	probe("startup", c.StartupProbe, "/healthz")
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	if !hasPort([]corev1.Container{c}, "http") {
		add("no container port named http")
	}
	for _, p := range c.Ports {
		if p.Name == "http" && p.ContainerPort != metricsPort {
			add("port http is %d; HTTP_ADDR is :%d", p.ContainerPort, metricsPort)
		}
	}
	return errs
}

// checkPodSpec applies to every pod mediapipe runs: the image, security,
// resources, configuration and volumes.
func checkPodSpec(t *testing.T, what string, spec *corev1.PodSpec, role string, ix *index, env map[string]string, overlay bool, store string) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(what+": "+format, a...)) }

	if spec.ServiceAccountName == "" || !ix.sas[spec.ServiceAccountName] {
		add("serviceAccountName %q is not a ServiceAccount of the build", spec.ServiceAccountName)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		add("automountServiceAccountToken must be false: mediapipe never calls the Kubernetes API")
	}
	sc := spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != runAsUser ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		add("pod securityContext must run as non-root user %d with the RuntimeDefault seccomp profile", runAsUser)
	}
	if len(spec.Containers) != 1 {
		add("%d containers, want 1", len(spec.Containers))
		return errs
	}
	c := spec.Containers[0]
	image, tag := splitImage(c.Image)
	if overlay {
		if image == imageName || tag == "" || tag == "latest" {
			add("image %q: an overlay names the registry and pins a tag or digest", c.Image)
		}
	} else if image != imageName {
		add("image %q: the base names the image %q for overlays to rewrite", c.Image, imageName)
	}
	if s := c.SecurityContext; s == nil || s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation ||
		s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem || s.Capabilities == nil || !slices.Contains(s.Capabilities.Drop, "ALL") {
		add("container securityContext must forbid privilege escalation, drop ALL capabilities and mount the root read-only")
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() {
		add("resources.requests must set cpu and memory (scheduling, HPA utilisation)")
	}
	if lim.Memory().IsZero() {
		add("resources.limits must set memory")
	} else if req.Memory().Cmp(*lim.Memory()) > 0 {
		add("memory request above its limit")
	}

	// Configuration: the ConfigMap, the Secret, known names only.
	var fromConfig bool
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil && ix.configMaps[ef.ConfigMapRef.Name] != nil && strings.HasPrefix(ef.ConfigMapRef.Name, configName):
			fromConfig = true
		default:
			add("envFrom %+v is not the ConfigMap %s of the build", ef, configName)
		}
	}
	if !fromConfig {
		add("does not read ConfigMap %s", configName)
	}
	vars := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if err := checkEnvName(t, what, e.Name); err != nil {
			errs = append(errs, err)
		}
		vars[e.Name] = e
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name != secretName {
			add("%s comes from Secret %q; every secret is in %s", e.Name, e.ValueFrom.SecretKeyRef.Name, secretName)
		}
		if e.Name == "GOMEMLIMIT" {
			if q, err := goMemLimit(e.Value); err != nil || lim.Memory().IsZero() || q.Cmp(*lim.Memory()) >= 0 {
				add("GOMEMLIMIT=%s must be below the memory limit %s", e.Value, lim.Memory())
			}
		}
	}
	// The roles connect to NATS, which requires the user and password of
	// the Secret (the migration only reaches PostgreSQL).
	need := []string{"DATABASE_URL"}
	if role != "migrate" {
		need = append(need, natsCredentialVars...)
	}
	// The roles that touch the media store (the downloader writes, the
	// ingest's media API reads) need the bucket's key from the Secret; the
	// others never see it, and the file store needs none.
	storeUser := roles[role].media != ""
	if store == "s3" && storeUser {
		need = append(need, awsCredentialVars...)
	} else {
		for _, name := range awsCredentialVars {
			if _, ok := vars[name]; ok {
				add("reads %s, which it never uses (least privilege)", name)
			}
		}
	}
	if store == "s3" && storeUser {
		v := env["MEDIA_STORE"]
		if e, ok := vars["MEDIA_STORE"]; ok {
			v = e.Value
		}
		if _, _, err := parseS3Store(v); err != nil {
			add("lacks MEDIA_STORE=s3://...: %v", err)
		}
	}
	for _, name := range need {
		e, ok := vars[name]
		if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Key != name ||
			(e.ValueFrom.SecretKeyRef.Optional != nil && *e.ValueFrom.SecretKeyRef.Optional) {
			add("%s must come from Secret %s, key %s (not optional)", name, secretName, name)
		}
	}

	// Volumes: a read-only root needs writable DATA_DIR and /tmp (except
	// the migration, which writes nothing); the media volume where the role
	// needs it, at MEDIA_DIR, ReadWriteMany.
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			add("volumeMount %s names no volume", m.Name)
			continue
		}
		mounts[m.MountPath] = m
		if v.PersistentVolumeClaim != nil {
			pvc := ix.pvcs[v.PersistentVolumeClaim.ClaimName]
			if pvc == nil {
				add("volume %s claims %q, no PersistentVolumeClaim of the build", v.Name, v.PersistentVolumeClaim.ClaimName)
			} else if store == "s3" {
				add("mounts PersistentVolumeClaim %s (%v): the media are objects in the bucket, no pod needs a shared disk", pvc.Name, pvc.Spec.AccessModes)
			} else if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
				add("PersistentVolumeClaim %s is shared by every pod of every node: it must be ReadWriteMany", pvc.Name)
			}
		}
	}
	if role == "migrate" {
		return errs
	}
	for _, dir := range []string{env["DATA_DIR"], "/tmp"} {
		if m, ok := mounts[dir]; !ok || m.ReadOnly || volumes[m.Name].EmptyDir == nil {
			add("no writable emptyDir at %q (the root filesystem is read-only)", dir)
		}
	}
	if store != "file" {
		return errs
	}
	media, hasMedia := mounts[env["MEDIA_DIR"]]
	switch want := roles[role].media; {
	case want == "" && hasMedia:
		add("mounts the media volume it does not use")
	case want != "" && (!hasMedia || volumes[media.Name].PersistentVolumeClaim == nil):
		add("needs the media volume (PersistentVolumeClaim) at MEDIA_DIR %q", env["MEDIA_DIR"])
	case want == "rw" && media.ReadOnly:
		add("writes media: mount it read-write")
	case want == "ro" && !media.ReadOnly:
		add("only reads media: mount it read-only")
	}
	return errs
}

// checkScaling: every Deployment has exactly one autoscaler, an HPA or a
// KEDA ScaledObject (both would fight over the replica count).
func checkScaling(t *testing.T, d *appsv1.Deployment, role string, ix *index, keda bool, namespace string) []error {
	var errs []error
	add := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: "+format, append([]any{d.Name}, a...)...))
	}
	var hpas []*autoscalingv2.HorizontalPodAutoscaler
	for _, h := range ix.hpas {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name {
			hpas = append(hpas, h)
		}
	}
	var sos []*scaledObject
	for _, s := range ix.scaled {
		if k := s.Spec.ScaleTargetRef.Kind; (k == "" || k == "Deployment") && s.Spec.ScaleTargetRef.Name == d.Name {
			sos = append(sos, s)
		}
	}
	if len(hpas)+len(sos) != 1 {
		add("%d HorizontalPodAutoscalers and %d ScaledObjects target it; want exactly one", len(hpas), len(sos))
		return errs
	}
	if d.Spec.Replicas != nil {
		add("sets replicas: %d while an autoscaler owns the count (every kubectl apply would reset it): leave it out", *d.Spec.Replicas)
	}
	if keda && (role == "analyzer" || role == "downloader") && len(sos) != 1 {
		add("scales on CPU in the KEDA overlay")
	}
	min := roles[role].minScaler
	for _, h := range hpas {
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < max(min, 2) || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			add("HPA %s: minReplicas must be at least %d (a PodDisruptionBudget then lets nodes drain) and below maxReplicas", h.Name, max(min, 2))
		}
		if len(h.Spec.Metrics) == 0 {
			add("HPA %s: no metrics", h.Name)
		}
	}
	for _, s := range sos {
		if s.Spec.MinReplicaCount == nil || *s.Spec.MinReplicaCount < max(min, 2) || s.Spec.MaxReplicaCount == nil || *s.Spec.MaxReplicaCount < *s.Spec.MinReplicaCount {
			add("ScaledObject %s: minReplicaCount must be at least %d and below maxReplicaCount", s.Metadata.Name, max(min, 2))
		}
		want := map[string][2]string{
			"analyzer":   {busConst(t, "StreamWebhooks"), busConst(t, "ConsumerAnalyzer")},
			"downloader": {busConst(t, "StreamDownloads"), busConst(t, "ConsumerDownloader")},
		}[role]
		stream, consumer := want[0], want[1]
		var lag bool
		for _, tr := range s.Spec.Triggers {
			if tr.Type != "nats-jetstream" {
				continue
			}
			lag = true
			m := tr.Metadata
			if m["stream"] != stream || m["consumer"] != consumer {
				add("ScaledObject %s: watches %s/%s; the %s consumes %s/%s (internal/bus)", s.Metadata.Name, m["stream"], m["consumer"], role, stream, consumer)
			}
			ep := m["natsServerMonitoringEndpoint"]
			if !strings.HasPrefix(ep, "nats-headless.") || (namespace != "" && ep != "nats-headless."+namespace+monitorSuffix) {
				add("ScaledObject %s: natsServerMonitoringEndpoint %q: want the NATS release's headless service in namespace %q, port 8222", s.Metadata.Name, ep, namespace)
			}
			if n, err := strconv.Atoi(m["lagThreshold"]); err != nil || n <= 0 {
				add("ScaledObject %s: lagThreshold %q must be a positive number", s.Metadata.Name, m["lagThreshold"])
			}
			if m["account"] != "$G" {
				add("ScaledObject %s: account %q; mediapipe uses NATS's global account $G", s.Metadata.Name, m["account"])
			}
		}
		if !lag {
			add("ScaledObject %s: no nats-jetstream trigger: a worker scales on its consumer's backlog", s.Metadata.Name)
		}
	}
	return errs
}

func checkPDB(d *appsv1.Deployment, ix *index) []error {
	var found []*policyv1.PodDisruptionBudget
	for _, p := range ix.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return []error{fmt.Errorf("Deployment %s: %d PodDisruptionBudgets select its pods; want 1", d.Name, len(found))}
	}
	p := found[0]
	if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
		return []error{fmt.Errorf("PodDisruptionBudget %s sets neither maxUnavailable nor minAvailable", p.Name)}
	}
	if p.Spec.MaxUnavailable != nil && p.Spec.MaxUnavailable.IntValue() < 1 {
		return []error{fmt.Errorf("PodDisruptionBudget %s: maxUnavailable %s blocks every node drain", p.Name, p.Spec.MaxUnavailable)}
	}
	return nil
}

// goMemLimit reads a GOMEMLIMIT value (bytes, or KiB/MiB/GiB/TiB) as a
// quantity.
func goMemLimit(s string) (resource.Quantity, error) {
	for _, suf := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if strings.HasSuffix(s, suf) {
			return resource.ParseQuantity(strings.TrimSuffix(s, "B"))
		}
	}
	return resource.ParseQuantity(strings.TrimSuffix(s, "B"))
}

func hasPort(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func serviceHasPort(svcs []*corev1.Service, name string, port networkingv1.ServiceBackendPort) bool {
	for _, s := range svcs {
		if s.Name != name {
			continue
		}
		for _, p := range s.Spec.Ports {
			if (port.Name != "" && p.Name == port.Name) || (port.Number != 0 && p.Port == port.Number) {
				return true
			}
		}
	}
	return false
}

// splitImage splits "registry/name:tag" (or "name@sha256:...") into the
// name and the tag or digest.
func splitImage(ref string) (string, string) {
	if name, digest, ok := strings.Cut(ref, "@"); ok {
		return name, digest
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestKustomizationFiles decodes every kustomization.yaml strictly into
// kustomize's own type, so a misspelled field (which kustomize may ignore)
// fails.
func TestKustomizationFiles(t *testing.T) {
	var files []string
	err := filepath.WalkDir(repoPath("deploy", "k8s"), func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "kustomization.yaml" {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d kustomization.yaml files under deploy/k8s", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var k types.Kustomization
		if err := yaml.UnmarshalStrict(b, &k); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestSecretExample: the documented Secret decodes and carries exactly the
// keys the pods reference.
func TestSecretExample(t *testing.T) {
	o, err := decodeObject([]byte(readRepoFile(t, "deploy", "k8s", "secret.example.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := o.Obj.(*corev1.Secret)
	if !ok || s.Name != secretName {
		t.Fatalf("deploy/k8s/secret.example.yaml is %s, want Secret %s", o, secretName)
	}
	referenced := map[string]bool{}
	for _, k := range kustomizations {
		for _, o := range buildKustomization(t, k.dir) {
			var spec *corev1.PodSpec
			switch v := o.Obj.(type) {
			case *appsv1.Deployment:
				spec = &v.Spec.Template.Spec
			case *batchv1.Job:
				spec = &v.Spec.Template.Spec
			default:
				continue
			}
			for _, c := range spec.Containers {
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						referenced[e.ValueFrom.SecretKeyRef.Key] = true
					}
				}
			}
		}
	}
	for k := range referenced {
		if _, ok := s.StringData[k]; !ok {
			t.Errorf("pods read %s from %s; the example does not show it", k, secretName)
		}
	}
	for k := range s.StringData {
		if !referenced[k] {
			t.Errorf("the example Secret has %s, which no pod reads", k)
		}
		if err := checkEnvName(t, "secret.example.yaml", k); err != nil {
			t.Error(err)
		}
	}
}
