// Package e2e holds process-level tests: TestMain builds the mediapipe binary
// once, and the tests run its commands (ingest, analyzer, downloader, run,
// reprocess) as real subprocesses against PostgreSQL, an embedded JetStream
// server and the W-API/CDN simulator on 127.0.0.1, killing and restarting
// them as an operator or a crash would.
package e2e
