package validate

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
	isolated := false
	for _, p := range policies {
		if p.Namespace != to.namespace || !selects(&p.Spec.PodSelector, to.labels) {
			continue
		}
		ingress := len(p.Spec.PolicyTypes) == 0
		for _, t := range p.Spec.PolicyTypes {
			ingress = ingress || t == networkingv1.PolicyTypeIngress
		}
		if !ingress {
			continue
		}
		isolated = true
		for _, r := range p.Spec.Ingress {
			if portMatches(r.Ports, port) && peerMatches(r.From, p.Namespace, from) {
				return true
			}
		}
	}
	return !isolated
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
