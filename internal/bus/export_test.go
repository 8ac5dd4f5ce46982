package bus

// Backoff exposes the jittered backoff to the external tests.
var Backoff = backoff
