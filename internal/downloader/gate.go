package downloader

import (
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ErrStoreUnavailable is what a job waiting for an unwritable store fails
// with (reason internal): the disk, not the media, is at fault.
var ErrStoreUnavailable = errors.New("the media store does not take writes")

// storeGate remembers that the file store failed a write. While it is
// down, jobs wait (nak with a delay, no attempt counted) instead of
// spending deliveries; it probes the store (Probe) at most every
// StoreRetry/2 and opens again by itself once a probe succeeds.
type storeGate struct {
	mu        sync.Mutex
	down      bool
	cause     error
	since     time.Time
	lastProbe time.Time
	probing   bool
}

// storeUpProbeEvery is how often StoreReady probes a store that is up: a
// failed write closes the gate at once, so the probe only finds a store
// that broke while nothing wrote to it.
const storeUpProbeEvery = time.Minute

// prober is a store that can tell whether it takes writes (blob.Local,
// blob.S3).
type prober interface{ Probe() error }

// storeFault records that the store failed a write.
func (d *Downloader) storeFault(err error) {
	g := &d.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	d.markDown(err)
	g.lastProbe = time.Now()
}

// markDown closes the gate on err; the caller holds the gate's lock.
func (d *Downloader) markDown(err error) {
	g := &d.gate
	g.cause = err
	if g.down {
		return
	}
	g.down, g.since = true, time.Now()
	d.Log.Error("media store unwritable: downloads wait, without counting attempts, until it takes writes again",
		zap.Duration("probe_every", d.storeRetry()/2), zap.Error(err))
}

// storeUp reports nil when jobs may use the store: it is up, or a probe
// due now succeeded.
func (d *Downloader) storeUp() error {
	d.gate.mu.Lock()
	down := d.gate.down
	d.gate.mu.Unlock()
	if !down {
		return nil
	}
	return d.StoreReady()
}

// probe runs the store's Probe and opens or closes the gate by its result.
// A store without Probe is trusted again at once.
func (d *Downloader) probe() error {
	var err error
	if p, ok := d.Blobs.(prober); ok {
		err = p.Probe()
	}
	g := &d.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	g.probing = false
	if err != nil {
		d.markDown(err)
		return errors.Join(ErrStoreUnavailable, err)
	}
	if g.down {
		d.Log.Info("media store writable again: downloads resume", zap.Duration("down_for", time.Since(g.since)))
		g.down, g.cause = false, nil
	}
	return nil
}

// StoreReady reports whether the media store takes writes; nil when it
// does. It probes the store (a write, on S3 a PUT and a DELETE) at most
// every StoreRetry/2 while it is down and every minute while it is up, and
// answers from the last probe in between, so that frequent readiness checks
// cost the store next to nothing. The downloader's
// readiness check, and how a closed gate opens again: while it fails, jobs
// wait and nothing is marked failed.
func (d *Downloader) StoreReady() error {
	g := &d.gate
	g.mu.Lock()
	every := d.storeRetry() / 2 // while down: how soon it may open again
	if !g.down {
		every = storeUpProbeEvery // while up: failed writes close it at once anyway
	}
	if g.probing || (!g.lastProbe.IsZero() && time.Since(g.lastProbe) < every) {
		down, cause := g.down, g.cause
		g.mu.Unlock()
		if down {
			return errors.Join(ErrStoreUnavailable, cause)
		}
		return nil
	}
	g.probing, g.lastProbe = true, time.Now()
	g.mu.Unlock()
	return d.probe()
}
