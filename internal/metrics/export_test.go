package metrics

import "time"

// SetLeaseTTL shortens the reporter lease for a test; call it before
// WatchJetStream creates the bucket.
func SetLeaseTTL(d time.Duration) { leaseTTL = d }
