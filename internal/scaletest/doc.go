// Package scaletest proves the scaled deployment with real processes: TestMain
// builds the mediapipe binary once, and the tests run one `mediapipe ingest`,
// analyzers and several `mediapipe downloader` processes against one NATS
// JetStream and one PostgreSQL schema, as deploy/compose and deploy/k8s run
// them, and a three-node NATS cluster (in-process, on loopback) with R3
// streams that loses a node mid-run. Everything listens on 127.0.0.1 only.
package scaletest
