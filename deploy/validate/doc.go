// Package validate checks mediapipe's deployment files offline: the
// Kubernetes manifests under deploy/k8s (built with kustomize's own library
// at a pinned version, every object decoded strictly into the Kubernetes API
// types compiled in, then checked against the rules the deployment relies
// on, NetworkPolicies included), the compose file and NATS configuration
// under deploy/compose, the NATS Helm values (authentication proved on a
// real NATS server, a supported image pinned), and the Dockerfile. It is a
// module of its own so that the Kubernetes libraries stay out of
// mediapipe's go.mod. Run it with `bash .ci/deploy-check`, or
// `go test ./...` in this directory.
package validate
