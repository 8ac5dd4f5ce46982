// Package downloader is the last stage of the pipeline: for each download job
// it fetches the encrypted blob (WhatsApp CDN first, W-API download-media on
// the expired path), verifies and decrypts it in one streaming pass into a
// temporary file, commits the file to the content-addressed store and records
// the outcome on the media_files row. The returned error is the control flow:
// nil acks, a permanent or exhausted failure terminates and dead-letters, a
// retry names its delay. Every failure names one reason of internal/reason,
// the same in the row, the dead-letter record, the metric and the log line.
package downloader

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/fetch"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/internal/reason"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// Statuses the downloader writes.
const (
	StatusFailed  = "failed"
	StatusExpired = "expired"
)

// largeMedia is the declared size from which a download uses three
// goroutines (hash, decrypt, write) instead of one.
const largeMedia = 16 << 20

// Catalog is what the downloader needs of the catalogue: load a job, start
// it, find content already stored, and record the outcome (success,
// failure, a retry or a wait). *catalog.Store has it.
type Catalog interface {
	LoadDownload(ctx context.Context, id int64) (*catalog.DownloadRow, error)
	StartDownload(ctx context.Context, id int64) (attempts int, proceed bool, err error)
	FindStored(ctx context.Context, clienteID int64, mediaType wamedia.MediaType, sha256 []byte) (catalog.Stored, bool, error)
	Succeed(ctx context.Context, id int64, st catalog.Stored) error
	Fail(ctx context.Context, id int64, status, reason string) error
	FailExhausted(ctx context.Context, id int64, reason string) (string, error)
	RecordRetry(ctx context.Context, id int64, r catalog.Retry) error
	Defer(ctx context.Context, id int64, r catalog.Retry, uncount bool) error
}

// Downloader fetches, verifies and stores media.
//
// Retries are its own decision, not JetStream's MaxDeliver (the DOWNLOADS
// consumer delivers without limit): a failure an outage explains (network,
// timeout, 5xx, 429) is retried with capped exponential backoff and jitter
// until RetryHorizon after the first attempt, never past the CDN expiry of
// the media's URL; a blob that fails its encrypted hash or comes truncated
// is retried MaxVerifyFailures times; other failures end at once. While
// retrying, the row is pending with attempts, next_attempt_at and
// last_reason; when the retries run out it is failed with the most
// informative reason its attempts saw. Faults that are not the media's (the
// file store unwritable, a CDN host whose circuit is open) make the job
// wait without counting an attempt.
type Downloader struct {
	Store     Catalog
	Blobs     blob.Store
	Fetcher   *fetch.Fetcher
	Log       *zap.Logger
	MaxBytes  int64
	AllowExec bool
	// HeartBeat is how often a long download tells JetStream it is alive;
	// keep it well inside the consumer's AckWait.
	HeartBeat time.Duration
	// Observe, when set, is told the outcome of every job ("success",
	// "deduplicated", or the failure reason) and the bytes stored.
	Observe func(provider, outcome string, bytes int64, took time.Duration)

	// RetryHorizon is how long after its first attempt a media item is
	// retried through an outage (DOWNLOAD_RETRY_HORIZON); default 24h.
	RetryHorizon time.Duration
	// BackoffBase and BackoffMax bound the delay between attempts
	// (DOWNLOAD_BACKOFF_MAX); defaults 1s and 15m.
	BackoffBase, BackoffMax time.Duration
	// MaxVerifyFailures is how many attempts may fail with a blob that
	// does not match its encrypted hash or is cut short; default 8.
	MaxVerifyFailures int
	// StoreRetry is how long a job waits while the file store does not
	// take writes; the store is probed every StoreRetry/2. Default 5s.
	StoreRetry time.Duration
	// FallbackAfter is the number of consecutive transfer failures from
	// which an attempt also tries the W-API fallback (at once when the
	// CDN's circuit is open or the retries are about to run out); default 3.
	FallbackAfter int
	// FallbackWait is how long the CDN host's circuit must have been open
	// before jobs stop waiting for it and fetch through the W-API fallback
	// (an attempt each, spaced by the backoff); default 30s.
	FallbackWait time.Duration

	gate    storeGate
	mu      sync.Mutex
	flights map[string]chan struct{} // content being downloaded in this process
}

// Handle is the downloader's bus.Handler.
func (d *Downloader) Handle(ctx context.Context, msg jetstream.Msg) error {
	j, err := job.Decode(msg.Data())
	if err != nil {
		d.Log.Warn("malformed download job", zap.Error(err))
		return bus.Permanent(string(reason.MalformedJob), err)
	}
	stop := bus.KeepAlive(ctx, msg, d.HeartBeat)
	defer stop()
	start := time.Now()
	outcome, provider, size, err := d.download(ctx, j)
	if d.Observe != nil {
		if err != nil && outcome == "" {
			outcome = string(reason.OrInternal(err))
		}
		d.Observe(cmp.Or(provider, "unknown"), outcome, size, time.Since(start))
	}
	return err
}

// Describe names the media item of a job message, for the bus's
// redelivery and dead-letter lines when the handler could not load its row
// (Settler.Describe).
func (d *Downloader) Describe(msg jetstream.Msg) []zap.Field {
	j, err := job.Decode(msg.Data())
	if err != nil {
		return nil
	}
	return []zap.Field{zap.Int64("media_id", j.MediaID), zap.Int64("cliente_id", j.ClienteID), zap.String("instance_id", j.InstanceID)}
}

// RecordExhausted records a job that ran out of JetStream deliveries (only
// when the consumer has a MaxDeliver): failed, with the most informative
// reason its attempts saw. It returns that reason for the dead-letter
// record (bus.Settler.RecordExhausted).
func (d *Downloader) RecordExhausted(ctx context.Context, msg jetstream.Msg, last error) string {
	j, err := job.Decode(msg.Data())
	if err != nil {
		return ""
	}
	r, err := d.Store.FailExhausted(ctx, j.MediaID, string(reason.OrInternal(last)))
	if err != nil {
		d.Log.Error("recording exhausted download", zap.Int64("media_id", j.MediaID), zap.Int64("cliente_id", j.ClienteID),
			zap.String("instance_id", j.InstanceID), zap.Error(err))
		return ""
	}
	if r != "" {
		d.Log.Warn("download failed for good: deliveries exhausted", zap.Int64("media_id", j.MediaID),
			zap.Int64("cliente_id", j.ClienteID), zap.String("instance_id", j.InstanceID), zap.String("reason", r), zap.Error(last))
	}
	return r
}

// attempt is one job's download of its row.
type attempt struct {
	d       *Downloader
	row     *catalog.DownloadRow
	log     *zap.Logger
	started bool // StartDownload counted an attempt
	// plain is set once the bytes being verified are a plain file (a
	// provider's, or a fallback's) rather than WhatsApp's encrypted blob.
	plain bool
}

func mediaFields(row *catalog.DownloadRow) []zap.Field {
	return []zap.Field{zap.Int64("media_id", row.MediaID), zap.Int64("cliente_id", row.ClienteID),
		zap.String("instance_id", row.InstanceID), zap.String("message_id", row.MessageID)}
}

// download runs one attempt of job j; provider is its instance's, once its
// row is read.
func (d *Downloader) download(ctx context.Context, j job.Download) (outcome, provider string, size int64, err error) {
	id := j.MediaID
	row, err := d.Store.LoadDownload(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return "gone", "", 0, bus.Permanent(string(reason.UnknownMedia), fmt.Errorf("media %d no longer exists", id))
	}
	if err != nil {
		// The database, not the media: the bus backs off and retries.
		return string(reason.Internal), "", 0, reason.Retry(reason.Internal, fmt.Errorf("loading media %d: %w", id, err))
	}
	fields := mediaFields(row)
	defer func() { err = bus.WithFields(err, fields...) }()
	if row.Status == catalog.StatusSuccess {
		return "already_done", row.Provider, 0, nil
	}
	a := &attempt{d: d, row: row, log: d.Log.With(fields...).With(zap.String("media_type", string(row.Descriptor.Type)))}
	outcome, size, err = a.run(ctx)
	return outcome, row.Provider, size, err
}

func (a *attempt) run(ctx context.Context) (string, int64, error) {
	d, row, log := a.d, a.row, a.log
	id := row.MediaID
	desc := row.Descriptor

	// Waits that are not the media's fault and cost no attempt.
	if err := d.storeUp(); err != nil {
		return a.wait(ctx, jitter(d.storeRetry()), reason.Internal, err)
	}
	cdn := row.Source == "" || row.Source == string(webhook.SourceCDN)
	var cdnDown error // the CDN stays unreachable: this attempt goes to W-API
	if wait, down, host, blocked := d.Fetcher.CDNBlocked(&desc); cdn && blocked {
		cause := &fetch.Error{Kind: fetch.ErrCircuitOpen, URL: host, Err: fmt.Errorf("CDN host %s down for %s", host, down.Round(time.Second))}
		if !row.FirstAttempt.IsZero() && !time.Now().Before(d.deadline(row, time.Now())) {
			return a.exhaust(ctx, reason.HTTPError, cause)
		}
		if down < d.fallbackWait() {
			return a.wait(ctx, d.circuitWait(wait, down), "", cause)
		}
		cdnDown = cause
	}

	if _, proceed, err := d.Store.StartDownload(ctx, id); err != nil {
		return string(reason.Internal), 0, reason.Retry(reason.Internal, fmt.Errorf("marking media %d downloading: %w", id, err))
	} else if !proceed {
		return "already_done", 0, nil
	}
	a.started = true

	if len(desc.FileSHA256) == 32 {
		// One download per content at a time: a forward of the same media in
		// several messages waits for the first and then finds it stored.
		release, err := d.claim(ctx, row.ClienteID, desc.Type, desc.FileSHA256)
		if err != nil {
			return a.wait(ctx, 0, "", err)
		}
		defer release()

		// Content already stored and verified for this cliente: point at it.
		if st, ok, err := d.Store.FindStored(ctx, row.ClienteID, desc.Type, desc.FileSHA256); err != nil {
			return a.wait(ctx, jitter(d.storeRetry()), reason.Internal, fmt.Errorf("looking up stored content: %w", err))
		} else if ok && d.Blobs.Exists(st.Path) {
			st.Integrity = row.Integrity
			if err := d.Store.Succeed(ctx, id, st); err != nil {
				return a.wait(ctx, jitter(d.storeRetry()), reason.Internal, fmt.Errorf("recording deduplicated media %d: %w", id, err))
			}
			return "deduplicated", 0, nil
		}
	}
	// Without a hash before the download (WAHA, Z-API), the content address
	// is known only once the bytes are: the store's commit deduplicates.

	var (
		body     io.ReadCloser
		err      error
		fallback bool
	)
	if !cdn {
		// A provider's plain file (WAHA, Z-API) or a Graph API media id
		// (Meta): no CDN, no fallback.
		body, err = a.openProvider(ctx, &desc)
		switch {
		case errors.Is(err, fetch.ErrExpired):
			log.Warn("media gone from the provider", zap.String("reason", string(reason.Expired)), zap.Error(err))
			return a.fail(ctx, StatusExpired, reason.Expired, err)
		case errors.Is(err, fetch.ErrCircuitOpen):
			ra, _ := fetch.RetryAfter(err)
			return a.wait(ctx, ra+jitter(min(ra, 5*time.Second)), "", err)
		}
	} else if cdnDown != nil {
		log.Info("CDN unreachable for long, fetching through the provider's fallback", zap.Error(cdnDown))
		body, _, err = d.fallbackOpen(ctx, row, &desc)
		if err != nil {
			log.Info("provider fallback failed; waiting for the CDN", zap.Error(err))
			return a.failed(ctx, cdnDown)
		}
		fallback = true
	} else {
		body, _, err = d.Fetcher.Open(ctx, &desc)
	}
	switch {
	case fallback:
	case errors.Is(err, fetch.ErrExpired):
		log.Info("media gone from the CDN, trying the provider's fallback")
		body, _, err = d.fallbackOpen(ctx, row, &desc)
		if err != nil {
			log.Warn("fallback download failed", zap.String("reason", string(reason.Expired)), zap.Error(err))
			return a.fail(ctx, StatusExpired, reason.Expired, err)
		}
		fallback = true
	case errors.Is(err, fetch.ErrCircuitOpen):
		ra, _ := fetch.RetryAfter(err)
		return a.wait(ctx, d.circuitWait(ra, d.Fetcher.CDNDown(&desc)), "", err)
	case cdn && err != nil && fetch.Outage(err) && ctx.Err() == nil && a.tryFallback(&desc):
		log.Info("CDN unreachable, trying the provider's fallback", zap.Error(err))
		fb, _, ferr := d.fallbackOpen(ctx, row, &desc)
		if ferr != nil {
			log.Info("provider fallback failed too; the CDN will be retried", zap.Error(ferr))
		} else {
			body, err, fallback = fb, nil, true
		}
	}
	if err != nil {
		return a.failed(ctx, err)
	}
	defer body.Close()
	integrity := row.Integrity
	a.plain = fallback || !cdn
	if a.plain {
		// The fallback and the providers serve the file already decrypted:
		// verify it as plain, by its SHA-256 when one is known, else by its
		// content alone.
		desc.MediaKey, desc.FileEncSHA256 = nil, nil
		integrity = string(webhook.IntegrityContentOnly)
		if len(desc.FileSHA256) > 0 {
			integrity = string(webhook.IntegritySHA256)
		}
	}

	pending, err := d.Blobs.Create(row.ClienteID)
	if err != nil {
		d.storeFault(err)
		return a.wait(ctx, jitter(d.storeRetry()), reason.Internal, fmt.Errorf("creating temporary file: %w", err))
	}
	// The attempt's end stops the store's work at once (an S3 upload in
	// flight is aborted); the file is aborted below anyway.
	pending.Bind(ctx)
	// A large file keeps both cores busy: the ciphertext is hashed on one
	// goroutine and the plain file written on another while this one
	// decrypts. Small files stay on one goroutine (many run at once).
	large := desc.FileLength >= largeMedia
	var out io.Writer = &expectWriter{p: pending, sum: desc.FileSHA256, opts: wamedia.SniffOptions{AllowExecutables: d.AllowExec},
		typ: desc.Type, declared: desc.Mimetype}
	var async *blob.AsyncWriter
	if large {
		async = blob.NewAsyncWriter(out, 4)
		out = async
	}
	res, err := wamedia.Decrypt(body, out, wamedia.Params{
		MediaKey:         desc.MediaKey,
		Class:            desc.Class,
		FileSHA256:       desc.FileSHA256,
		FileEncSHA256:    desc.FileEncSHA256,
		MaxBytes:         d.MaxBytes,
		MediaType:        desc.Type,
		DeclaredMimetype: desc.Mimetype,
		AllowExecutables: d.AllowExec,
		Parallel:         large,
		// Only a file no one gave a hash for (WAHA, Z-API) goes without:
		// its content is still checked against its type.
		OptionalHashes: integrity == string(webhook.IntegrityContentOnly),
	})
	if async != nil {
		if cerr := async.Close(); err == nil {
			err = cerr
		}
	}
	if errors.Is(err, blob.ErrWrite) {
		// The disk, not the media: wait, count nothing, record nothing.
		pending.Abort()
		d.storeFault(err)
		return a.wait(ctx, jitter(d.storeRetry()), reason.Internal, fmt.Errorf("media %d: %w", id, err))
	}
	if err != nil {
		pending.Abort()
		if fallback {
			log.Warn("fallback file failed verification", zap.Error(err))
		}
		return a.failed(ctx, err)
	}
	stored, err := pending.Commit(res.PlainSHA256, res.Extension)
	if err != nil && ctx.Err() != nil {
		// A stop cut the commit short: the store is not at fault.
		return a.wait(ctx, 0, "", err)
	}
	if err != nil && (errors.Is(err, blob.ErrInvalidPath) || errors.Is(err, blob.ErrMismatch)) {
		// Ours, not the store's: an attempt that counts (closing the store
		// gate would hold every download back and retry this one forever).
		return a.failed(ctx, reason.Retry(reason.Internal, fmt.Errorf("storing media %d: %w", id, err)))
	}
	if err != nil {
		d.storeFault(err)
		return a.wait(ctx, jitter(d.storeRetry()), reason.Internal, fmt.Errorf("storing media %d: %w", id, err))
	}
	if err := d.Store.Succeed(ctx, id, catalog.Stored{
		Path: stored.Path, Size: stored.Size, Mimetype: res.Mimetype, SHA256: res.PlainSHA256, Integrity: integrity,
	}); err != nil {
		// The file is stored: the next attempt finds it (FindStored).
		return a.wait(ctx, jitter(d.storeRetry()), reason.Internal, fmt.Errorf("recording media %d: %w", id, err))
	}
	log.Debug("media stored", zap.String("path", stored.Path), zap.Int64("bytes", stored.Size), zap.Bool("fallback", fallback),
		zap.Int("attempts", row.Attempts+1))
	return "success", stored.Size, nil
}

// circuitWait is how long a job waits for a CDN host whose circuit is
// open (for wait more, down for down so far): until the host may be tried
// again or the fallback is due, whichever comes first, plus jitter.
func (d *Downloader) circuitWait(wait, down time.Duration) time.Duration {
	if down < d.fallbackWait() {
		wait = min(wait, d.fallbackWait()-down)
	}
	return wait + jitter(min(wait, 5*time.Second))
}

// tryFallback reports whether an attempt whose CDN fetch failed with a
// transfer failure should also try the W-API fallback: the CDN host's
// circuit is open, the item failed that way FallbackAfter times in a row,
// or its retries are about to run out.
func (a *attempt) tryFallback(desc *wamedia.Descriptor) bool {
	d, row := a.d, a.row
	if d.Fetcher.CDNOpen(desc) {
		return true
	}
	if row.Attempts+1 >= d.fallbackAfter() && (row.Attempts == 0 || transfer(row.LastReason)) {
		return true
	}
	now := time.Now()
	return !now.Add(d.backoff(row.Attempts + 1)).Before(d.deadline(row, now))
}

// failed settles an attempt that failed with err: a stop hands the job back
// at once, a final failure ends the item, a transient one retries it until
// its budget runs out.
func (a *attempt) failed(ctx context.Context, err error) (string, int64, error) {
	if ctx.Err() != nil {
		// A stop cut the attempt short: no verdict on the media.
		return a.wait(ctx, 0, "", err)
	}
	r, c := classify(err)
	if c == final && a.plain && r == reason.PlainHashMismatch {
		// A plain file is not authenticated like WhatsApp's blob (whose
		// MAC tells a corrupted transfer from a wrong hash): its hash
		// mismatch may be the transfer's, so it is retried like a MAC
		// mismatch, a bounded number of times.
		c = verify
	}
	if c == final {
		return a.fail(ctx, StatusFailed, r, err)
	}
	return a.retry(ctx, r, c, err)
}

// retry records a failed attempt and schedules the next one, or ends the
// item when its retry budget is spent.
func (a *attempt) retry(ctx context.Context, r reason.Reason, c class, cause error) (string, int64, error) {
	d, row, log := a.d, a.row, a.log
	now := time.Now()
	deadline := d.deadline(row, now)
	n := row.Attempts + 1
	delay := d.backoff(n)
	if ra, ok := fetch.RetryAfter(cause); ok && ra > delay {
		delay = ra
	}
	if c == verify && row.VerifyFailures+1 >= d.maxVerify() {
		return a.exhaust(ctx, r, cause)
	}
	if !now.Before(deadline) {
		return a.exhaust(ctx, r, cause)
	}
	if now.Add(delay).After(deadline) {
		delay = deadline.Sub(now) // one last attempt at the deadline
	}
	best := reason.MoreInformative(reason.Reason(row.BestReason), r)
	next := now.Add(delay)
	if err := d.Store.RecordRetry(context.WithoutCancel(ctx), row.MediaID, catalog.Retry{
		Next: next, Reason: string(r), Best: string(best), Verify: c == verify,
	}); err != nil {
		log.Warn("recording a retry", zap.Error(err))
	}
	log.Info("download failed; will retry", zap.String("reason", string(r)), zap.Int("attempts", n),
		zap.Duration("delay", delay), zap.Time("next_attempt_at", next), zap.Time("retry_until", deadline), zap.Error(cause))
	return string(r), 0, bus.RetryAfter(delay, reason.Retry(r, cause))
}

// exhaust ends an item whose retries ran out: failed, with the most
// informative reason its attempts saw (this one included).
func (a *attempt) exhaust(ctx context.Context, r reason.Reason, cause error) (string, int64, error) {
	best := reason.MoreInformative(reason.Reason(a.row.BestReason), r)
	if err := a.d.Store.Fail(context.WithoutCancel(ctx), a.row.MediaID, StatusFailed, string(best)); err != nil {
		return a.wait(ctx, jitter(a.d.storeRetry()), reason.Internal, fmt.Errorf("recording failure of media %d: %w", a.row.MediaID, err))
	}
	a.log.Warn("download failed for good: retries exhausted", zap.String("reason", string(best)), zap.String("last_reason", string(r)),
		zap.Int("attempts", a.row.Attempts+1), zap.Error(cause))
	return string(best), 0, bus.Exhausted(string(best), cause)
}

// fail ends an item with a failure no retry can fix.
func (a *attempt) fail(ctx context.Context, status string, r reason.Reason, cause error) (string, int64, error) {
	if status == StatusFailed {
		r = reason.MoreInformative(reason.Reason(a.row.BestReason), r)
	}
	if err := a.d.Store.Fail(context.WithoutCancel(ctx), a.row.MediaID, status, string(r)); err != nil {
		return a.wait(ctx, jitter(a.d.storeRetry()), reason.Internal, fmt.Errorf("recording failure of media %d: %w", a.row.MediaID, err))
	}
	a.log.Warn("download failed", zap.String("status", status), zap.String("reason", string(r)), zap.Error(cause))
	return string(r), 0, reason.Permanent(r, cause)
}

// wait hands the job back for a redelivery after delay without counting an
// attempt: the fault is not the media's (the store, the database, a CDN
// circuit open, a stop). r, when set, becomes the row's last_reason; the
// returned error names r, else cause's reason.
func (a *attempt) wait(ctx context.Context, delay time.Duration, r reason.Reason, cause error) (string, int64, error) {
	next := time.Now().Add(delay)
	if err := a.d.Store.Defer(context.WithoutCancel(ctx), a.row.MediaID, catalog.Retry{Next: next, Reason: string(r)}, a.started); err != nil {
		a.log.Debug("recording a deferred download", zap.Error(err))
	}
	if r == "" {
		r = reason.OrInternal(cause)
	}
	a.log.Debug("download waits; no attempt counted", zap.String("reason", string(r)), zap.Duration("delay", delay), zap.Error(cause))
	return string(r), 0, bus.RetryAfter(delay, reason.Retry(r, cause))
}

// claim waits until no other download of this process fetches the same
// content for the cliente, and marks it as being fetched until release.
func (d *Downloader) claim(ctx context.Context, cliente int64, typ wamedia.MediaType, sha []byte) (release func(), err error) {
	key := strconv.FormatInt(cliente, 10) + "/" + string(typ) + "/" + hex.EncodeToString(sha)
	for {
		d.mu.Lock()
		busy, ok := d.flights[key]
		if !ok {
			if d.flights == nil {
				d.flights = map[string]chan struct{}{}
			}
			done := make(chan struct{})
			d.flights[key] = done
			d.mu.Unlock()
			return func() {
				d.mu.Lock()
				delete(d.flights, key)
				d.mu.Unlock()
				close(done)
			}, nil
		}
		d.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a download of the same content: %w", ctx.Err())
		}
	}
}

// fallbackOpen opens the already-decrypted file of a media item through its
// provider when the CDN cannot serve the blob: W-API's download-media, or
// Evolution API's getBase64FromMediaMessage (which can have the phone
// re-upload expired media). Either way the caller verifies the bytes as
// plain, against fileSha256.
func (d *Downloader) fallbackOpen(ctx context.Context, row *catalog.DownloadRow, desc *wamedia.Descriptor) (io.ReadCloser, fetch.Info, error) {
	if row.Provider == string(webhook.Evolution) {
		return d.Fetcher.EvolutionOpen(ctx, fetch.Server{Base: row.ProviderBase, APIKey: row.ProviderKey}, row.InstanceID,
			fetch.EvolutionKey{RemoteJID: row.ChatJID, FromMe: row.FromMe, ID: row.MessageID})
	}
	return d.Fetcher.FallbackOpen(ctx, row.InstanceID, row.WAPIToken, desc)
}

// openProvider opens the plain file of a media item that is not WhatsApp's
// CDN blob: WAHA's file at its URL (on the instance's own server only),
// Z-API's (on its storage hosts only), or Meta's media id through the Graph
// API, whose answer gives the file's SHA-256 when the webhook did not and
// its mimetype when the webhook had none.
func (a *attempt) openProvider(ctx context.Context, desc *wamedia.Descriptor) (io.ReadCloser, error) {
	d, row := a.d, a.row
	switch {
	case row.Source == string(webhook.SourceGraph):
		body, m, _, err := d.Fetcher.MetaOpen(ctx, row.ProviderKey, row.ProviderMediaID, desc.FileLength)
		if err != nil {
			return nil, err
		}
		if len(desc.FileSHA256) == 0 {
			desc.FileSHA256 = m.SHA256
		}
		if desc.Mimetype == "" {
			desc.Mimetype = m.Mimetype
		}
		return body, nil
	case row.Provider == string(webhook.WAHA):
		body, _, err := d.Fetcher.WAHAOpen(ctx, fetch.Server{Base: row.ProviderBase, APIKey: row.ProviderKey}, desc.URL, desc.FileLength)
		return body, err
	case row.Provider == string(webhook.ZAPI):
		body, _, err := d.Fetcher.ZAPIOpen(ctx, desc.URL, desc.FileLength)
		return body, err
	}
	return nil, &fetch.Error{Kind: fetch.ErrNoLocation, Err: fmt.Errorf("a %s item of a %s instance has no way to its bytes", row.Source, row.Provider)}
}

// expectWriter passes the plain file to the store and, as soon as its
// first wamedia.SniffLen bytes are there, announces the content the file
// will be committed under (Pending.Expect): the expected SHA-256 and the
// extension the content check gives those bytes, the same Decrypt reports
// at the end. An S3 store then uploads the parts straight to the final
// key. Content that fails the check announces nothing (it is never
// committed).
type expectWriter struct {
	p        *blob.Pending
	sum      []byte
	opts     wamedia.SniffOptions
	typ      wamedia.MediaType
	declared string
	head     []byte
	done     bool
}

func (e *expectWriter) Write(b []byte) (int, error) {
	if !e.done {
		e.head = append(e.head, b[:min(len(b), wamedia.SniffLen-len(e.head))]...)
		if len(e.head) == wamedia.SniffLen {
			e.done = true
			if c, err := e.opts.Sniff(e.head, e.typ, e.declared); err == nil && len(e.sum) == 32 {
				_ = e.p.Expect(e.sum, c.Extension)
			}
			e.head = nil
		}
	}
	return e.p.Write(b)
}
