package validate

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// natsRelease is the Helm release of ../k8s/nats (TestNATSKustomization).
const natsRelease = "nats"

// Pod labels of the nats chart (its nats.selectorLabels and
// natsBox.selectorLabels), and the label the PostgreSQL policy documents.
var (
	natsServerPod = labels.Set{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": natsRelease, "app.kubernetes.io/component": "nats"}
	natsBoxPod    = labels.Set{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": natsRelease, "app.kubernetes.io/component": "nats-box"}
	postgresPod   = labels.Set{"app.kubernetes.io/name": "postgresql"}
	kedaPod       = labels.Set{"app.kubernetes.io/name": "keda-operator"}
)

// The ports the policies guard.
const (
	natsClientPort  = 4222
	natsRoutePort   = 6222
	natsMonitorPort = 8222
	postgresPort    = 5432
)

// pod is a traffic source or destination: its namespace and labels.
type pod struct {
	what      string
	namespace string
	labels    labels.Set
}

// namespaceLabels are the labels Kubernetes puts on every namespace.
func namespaceLabels(ns string) labels.Set {
	return labels.Set{"kubernetes.io/metadata.name": ns}
}

func selects(sel *metav1.LabelSelector, l labels.Set) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(l)
}

// ingressAllowed evaluates the build's NetworkPolicies as the network
// plugin would: a pod no Ingress policy selects accepts everything;
// otherwise a connection is allowed when a rule of a selecting policy
// matches both its port and its source.
func ingressAllowed(policies []*networkingv1.NetworkPolicy, from, to pod, port int32) bool {
	isolating := isolatingPolicies(policies, to, networkingv1.PolicyTypeIngress)
	for _, p := range isolating {
		for _, r := range p.Spec.Ingress {
			if portMatches(r.Ports, port) && peerMatches(r.From, p.Namespace, from) {
				return true
			}
		}
	}
	return len(isolating) == 0
}

// isolatingPolicies returns the policies of the pod's namespace that select
// it for traffic of the type: with no policyTypes, a policy is of type
// Ingress, and of type Egress too when it has egress rules.
func isolatingPolicies(policies []*networkingv1.NetworkPolicy, target pod, typ networkingv1.PolicyType) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, p := range policies {
		if p.Namespace != target.namespace || !selects(&p.Spec.PodSelector, target.labels) {
			continue
		}
		is := len(p.Spec.PolicyTypes) == 0 && (typ == networkingv1.PolicyTypeIngress || len(p.Spec.Egress) > 0)
		if slices.Contains(p.Spec.PolicyTypes, typ) || is {
			out = append(out, p)
		}
	}
	return out
}

func portMatches(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.StrVal != "":
			// A named port: the container ports of the chart are named,
			// so count it as open (the strict reading).
			return true
		case p.EndPort != nil && p.Port.IntVal <= port && port <= *p.EndPort:
			return true
		case p.Port.IntVal == port:
			return true
		}
	}
	return false
}

func peerMatches(peers []networkingv1.NetworkPolicyPeer, policyNS string, from pod) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			return true // pod addresses fall in CIDRs: count it as anyone
		case p.NamespaceSelector != nil && !selects(p.NamespaceSelector, namespaceLabels(from.namespace)):
		case p.NamespaceSelector == nil && from.namespace != policyNS:
		case p.PodSelector != nil && !selects(p.PodSelector, from.labels):
		default:
			return true
		}
	}
	return false
}

// egressAllowed evaluates the build's NetworkPolicies for a connection
// from a pod to a port elsewhere: a pod no Egress policy selects may go
// anywhere; otherwise a rule of a selecting policy must match the port and
// a destination outside the cluster (no peers, or an address block) or,
// when inCluster, any peer (the destination's labels are not known here).
func egressAllowed(policies []*networkingv1.NetworkPolicy, from pod, port int32, inCluster bool) bool {
	isolating := isolatingPolicies(policies, from, networkingv1.PolicyTypeEgress)
	for _, p := range isolating {
		for _, r := range p.Spec.Egress {
			if !portMatches(r.Ports, port) {
				continue
			}
			if len(r.To) == 0 || inCluster {
				return true
			}
			for _, peer := range r.To {
				if peer.IPBlock != nil {
					return true
				}
			}
		}
	}
	return len(isolating) == 0
}

// storeEndpoint is where the S3 client connects: AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL, else AWS S3 over HTTPS; inCluster when it names a
// Service of the cluster.
func storeEndpoint(env map[string]string) (host string, port int32, inCluster bool) {
	ep := env["AWS_ENDPOINT_URL_S3"]
	if ep == "" {
		ep = env["AWS_ENDPOINT_URL"]
	}
	if ep == "" {
		return "s3." + env["AWS_REGION"] + ".amazonaws.com", 443, false
	}
	u, err := url.Parse(ep)
	if err != nil {
		return ep, 443, false
	}
	port = 443
	if u.Scheme == "http" {
		port = 80
	}
	if p, err := strconv.Atoi(u.Port()); err == nil {
		port = int32(p)
	}
	h := u.Hostname()
	return h, port, !strings.Contains(h, ".") || strings.HasSuffix(h, ".svc") || strings.HasSuffix(h, ".svc.cluster.local")
}

// checkStoreEgress: when the media are in a bucket, the roles that use it
// (the downloader, the ingest's media API) reach its endpoint whatever
// egress policies the build adds.
func checkStoreEgress(ix *index, namespace string, env map[string]string) []error {
	var errs []error
	host, port, inCluster := storeEndpoint(env)
	for _, d := range ix.deployments {
		if roles[d.Spec.Template.Labels[componentKey]].media == "" {
			continue
		}
		from := pod{"Deployment " + d.Name, namespace, labels.Set(d.Spec.Template.Labels)}
		if !egressAllowed(ix.policies, from, port, inCluster) {
			errs = append(errs, fmt.Errorf("NetworkPolicy: %s cannot reach the media store %s on %d: add an egress rule for it", from.what, host, port))
		}
	}
	return errs
}

func ptrPort(p int32) *intstr.IntOrString {
	v := intstr.FromInt32(p)
	return &v
}

// checkNetworkPolicies: in a deployable overlay, only mediapipe's pods
// reach NATS's client port and PostgreSQL, NATS's routes only come from
// the NATS servers, and NATS's monitoring from nothing but (with KEDA) the
// KEDA operator. Each rule is judged by evaluating the policies for real
// sources, not by the policies' shape.
func checkNetworkPolicies(ix *index, namespace string, keda bool) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	nats := pod{"a NATS server", namespace, natsServerPod}
	postgres := pod{"PostgreSQL", namespace, postgresPod}
	for _, target := range []pod{nats, postgres} {
		selected := false
		for _, p := range ix.policies {
			selected = selected || (p.Namespace == target.namespace && selects(&p.Spec.PodSelector, target.labels))
		}
		if !selected {
			add("no NetworkPolicy selects %s (pods %v in namespace %q): every pod of the cluster reaches it", target.what, target.labels, target.namespace)
		}
	}
	if len(errs) > 0 {
		return errs
	}

	for _, from := range podsOf(ix.deployments, namespace) {
		if !ingressAllowed(ix.policies, from, nats, natsClientPort) {
			add("NetworkPolicy: %s cannot reach NATS on %d", from.what, natsClientPort)
		}
		if !ingressAllowed(ix.policies, from, postgres, postgresPort) {
			add("NetworkPolicy: %s cannot reach PostgreSQL on %d", from.what, postgresPort)
		}
	}
	if !ingressAllowed(ix.policies, nats, nats, natsRoutePort) {
		add("NetworkPolicy: the NATS servers cannot reach each other's routes on %d", natsRoutePort)
	}
	if keda && !ingressAllowed(ix.policies, pod{"KEDA's operator", "keda", kedaPod}, nats, natsMonitorPort) {
		add("NetworkPolicy: KEDA's operator (namespace keda) cannot read NATS's monitoring on %d: the workers would not scale", natsMonitorPort)
	}

	// Who must be refused: other pods of the namespace, pods of other
	// namespaces (even with mediapipe's labels), and, for the routes and
	// monitoring, mediapipe itself.
	mediapipe := labels.Set{"app.kubernetes.io/name": "mediapipe", componentKey: "ingest"}
	strangers := []pod{
		{"another pod of namespace " + namespace, namespace, labels.Set{"app.kubernetes.io/name": "something-else"}},
		{"a pod with mediapipe's labels in another namespace", "elsewhere", mediapipe},
		{"a pod of another namespace", "elsewhere", labels.Set{"app": "x"}},
	}
	for _, from := range strangers {
		for _, c := range []struct {
			to   pod
			port int32
		}{{nats, natsClientPort}, {nats, natsRoutePort}, {nats, natsMonitorPort}, {postgres, postgresPort}} {
			if ingressAllowed(ix.policies, from, c.to, c.port) {
				add("NetworkPolicy: %s reaches %s on %d", from.what, c.to.what, c.port)
			}
		}
	}
	for _, c := range []struct {
		from pod
		port int32
	}{
		{pod{"mediapipe", namespace, mediapipe}, natsRoutePort},
		{pod{"mediapipe", namespace, mediapipe}, natsMonitorPort},
		{pod{"the nats-box", namespace, natsBoxPod}, natsRoutePort},
	} {
		if ingressAllowed(ix.policies, c.from, nats, c.port) {
			add("NetworkPolicy: %s reaches the NATS servers on %d, which it never needs", c.from.what, c.port)
		}
	}
	return errs
}

// podsOf returns the pods the Deployments run.
func podsOf(ds []*appsv1.Deployment, namespace string) []pod {
	var out []pod
	for _, d := range ds {
		out = append(out, pod{"Deployment " + d.Name, namespace, labels.Set(d.Spec.Template.Labels)})
	}
	return out
}
