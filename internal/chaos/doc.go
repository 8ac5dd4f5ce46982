// Package chaos proves mediapipe's promises under faults, overload and
// hostile input (docs/RELIABILITY.md):
//
//   - TestChaos runs the pipeline as real processes (`mediapipe ingest`,
//     two `analyzer`s, two `downloader`s) against a nats-server process and a
//     PostgreSQL instance of its own, posts thousands of realistic webhooks
//     through the ingest while it kill -9's workers, restarts NATS and
//     restarts PostgreSQL, and then checks that every accepted webhook's
//     media is stored exactly once, verified, with no temporary file left.
//   - The in-process pipeline tests post hostile webhooks (SSRF locations,
//     path-traversal file names, invalid UTF-8, huge numbers) through the
//     real ingest, and capture every log line of a full run at debug level
//     to prove that no secret is ever logged.
//
// Everything listens on 127.0.0.1 and every loop is bounded.
package chaos
