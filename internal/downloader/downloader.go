// Package downloader is the last stage of the pipeline: for each download job
// it fetches the encrypted blob (WhatsApp CDN first, W-API download-media on
// the expired path), verifies and decrypts it in one streaming pass into a
// temporary file, commits the file to the content-addressed store and records
// the outcome on the media_files row. The returned error is the control flow:
// nil acks, bus.Permanent terminates and dead-letters, anything else retries.
package downloader

import (
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
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Statuses and reasons the downloader writes (architecture.md).
const (
	StatusFailed  = "failed"
	StatusExpired = "expired"

	ReasonExpired   = "expired"
	ReasonHTTPError = "http_error"
)

// largeMedia is the declared size from which a download uses three
// goroutines (hash, decrypt, write) instead of one.
const largeMedia = 16 << 20

// Downloader fetches, verifies and stores media.
type Downloader struct {
	Store     *catalog.Store
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
	Observe func(outcome string, bytes int64, took time.Duration)

	mu      sync.Mutex
	flights map[string]chan struct{} // content being downloaded in this process
}

// Handle is the downloader's bus.Handler.
func (d *Downloader) Handle(ctx context.Context, msg jetstream.Msg) error {
	j, err := job.Decode(msg.Data())
	if err != nil {
		return bus.Permanent("malformed_job", err)
	}
	stop := bus.KeepAlive(ctx, msg, d.HeartBeat)
	defer stop()
	start := time.Now()
	outcome, size, err := d.download(ctx, j.MediaID)
	if d.Observe != nil {
		if err != nil && outcome == "" {
			outcome = reasonOf(err)
		}
		d.Observe(outcome, size, time.Since(start))
	}
	return err
}

// OnExhausted records the last reason when a job ran out of deliveries.
func (d *Downloader) OnExhausted(ctx context.Context, msg jetstream.Msg, last error) {
	j, err := job.Decode(msg.Data())
	if err != nil {
		return
	}
	if err := d.Store.Fail(ctx, j.MediaID, StatusFailed, reasonOf(last)); err != nil {
		d.Log.Error("recording exhausted download", zap.Int64("media_id", j.MediaID), zap.String("instance_id", j.InstanceID), zap.Error(err))
	}
}

func (d *Downloader) download(ctx context.Context, id int64) (outcome string, size int64, err error) {
	row, err := d.Store.LoadJob(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return "gone", 0, bus.Permanent("unknown_media", fmt.Errorf("media %d no longer exists", id))
	}
	if err != nil {
		return "", 0, fmt.Errorf("loading media %d: %w", id, err)
	}
	if row.Status == catalog.StatusSuccess {
		return "already_done", 0, nil
	}
	log := d.Log.With(zap.Int64("media_id", id), zap.String("instance_id", row.InstanceID),
		zap.String("message_id", row.MessageID), zap.String("media_type", string(row.Descriptor.Type)))
	if _, proceed, err := d.Store.StartDownload(ctx, id); err != nil {
		return "", 0, fmt.Errorf("marking media %d downloading: %w", id, err)
	} else if !proceed {
		return "already_done", 0, nil
	}
	desc := row.Descriptor

	// One download per content at a time: a forward of the same media in
	// several messages waits for the first and then finds it stored.
	release, err := d.claim(ctx, row.ClienteID, desc.Type, desc.FileSHA256)
	if err != nil {
		return "", 0, err
	}
	defer release()

	// Content already stored and verified for this cliente: point at it.
	if st, ok, err := d.Store.FindStored(ctx, row.ClienteID, desc.Type, desc.FileSHA256); err != nil {
		return "", 0, fmt.Errorf("looking up stored content: %w", err)
	} else if ok && d.Blobs.Exists(st.Path) {
		if err := d.Store.Succeed(ctx, id, st); err != nil {
			return "", 0, fmt.Errorf("recording deduplicated media %d: %w", id, err)
		}
		return "deduplicated", 0, nil
	}

	body, _, err := d.Fetcher.Open(ctx, &desc)
	fallback := false
	if errors.Is(err, fetch.ErrExpired) {
		log.Info("media gone from the CDN, trying the W-API fallback")
		body, _, err = d.Fetcher.FallbackOpen(ctx, row.InstanceID, row.WAPIToken, &desc)
		if err != nil {
			log.Warn("fallback download failed", zap.Error(err))
			return d.fail(ctx, id, StatusExpired, ReasonExpired, err)
		}
		fallback = true
		// The fallback serves the file already decrypted: verify it as plain.
		desc.MediaKey, desc.FileEncSHA256 = nil, nil
	}
	if err != nil {
		return d.settleError(ctx, id, err)
	}
	defer body.Close()

	pending, err := d.Blobs.Create(row.ClienteID)
	if err != nil {
		return "", 0, fmt.Errorf("creating temporary file: %w", err)
	}
	// A large file keeps both cores busy: the ciphertext is hashed on one
	// goroutine and the plain file written on another while this one
	// decrypts. Small files stay on one goroutine (many run at once).
	large := desc.FileLength >= largeMedia
	var out io.Writer = pending
	var async *blob.AsyncWriter
	if large {
		async = blob.NewAsyncWriter(pending, 4)
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
	})
	if async != nil {
		if cerr := async.Close(); err == nil {
			err = cerr
		}
	}
	if errors.Is(err, blob.ErrWrite) {
		// The disk, not the media: retry later, record nothing.
		pending.Abort()
		log.Error("writing temporary file", zap.Error(err))
		return "storage_error", 0, fmt.Errorf("media %d: %w", id, err)
	}
	if err != nil {
		pending.Abort()
		if fallback && !wamedia.Transient(err) && fetch.Reason(err) == "" {
			log.Warn("fallback file failed verification", zap.String("reason", reasonOf(err)))
		}
		return d.settleError(ctx, id, err)
	}
	stored, err := pending.Commit(res.PlainSHA256, res.Extension)
	if err != nil {
		return "", 0, fmt.Errorf("storing media %d: %w", id, err)
	}
	if err := d.Store.Succeed(ctx, id, catalog.Stored{
		Path: stored.Path, Size: stored.Size, Mimetype: res.Mimetype, SHA256: res.PlainSHA256,
	}); err != nil {
		return "", 0, fmt.Errorf("recording media %d: %w", id, err)
	}
	log.Debug("media stored", zap.String("path", stored.Path), zap.Int64("bytes", stored.Size), zap.Bool("fallback", fallback))
	return "success", stored.Size, nil
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

// settleError classifies a fetch or verification error: transient ones are
// returned for a retry (the bus backs off; OnExhausted records the last
// reason), permanent ones are recorded on the row and terminated.
func (d *Downloader) settleError(ctx context.Context, id int64, err error) (string, int64, error) {
	if fetch.Transient(err) || wamedia.Transient(err) {
		if after, ok := fetch.RetryAfter(err); ok {
			return reasonOf(err), 0, bus.RetryAfter(after, err)
		}
		return reasonOf(err), 0, err
	}
	return d.fail(ctx, id, StatusFailed, reasonOf(err), err)
}

func (d *Downloader) fail(ctx context.Context, id int64, status, reason string, cause error) (string, int64, error) {
	if err := d.Store.Fail(ctx, id, status, reason); err != nil {
		return "", 0, fmt.Errorf("recording failure of media %d: %w", id, err)
	}
	return reason, 0, bus.Permanent(reason, cause)
}

// reasonOf maps an error to a stable failure reason of architecture.md.
func reasonOf(err error) string {
	if r := wamedia.Reason(err); r != "" {
		return r
	}
	if r := fetch.Reason(err); r != "" {
		return r
	}
	if r := bus.ReasonOf(err); r != "" {
		return r
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "truncated"
	}
	return ReasonHTTPError
}
