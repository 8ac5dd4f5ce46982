// Package bus is mediapipe's JetStream layer: it starts the embedded server
// when no NATS_URL is set, connects to NATS, declares the WEBHOOKS,
// DOWNLOADS and DEADLETTER streams with the analyzer and downloader pull
// consumers, and runs the worker loop that both consumers share.
//
// A handler's returned error is the control flow: nil acks the message, a
// Permanent error terminates it and writes a dead-letter record, a RetryAfter
// error naks it with that delay, and any other error naks it with an
// exponential backoff from the delivery count until MaxDeliver is reached, at
// which point the message is dead-lettered as exhausted. Settle owns that
// mapping for every consumer.
package bus
