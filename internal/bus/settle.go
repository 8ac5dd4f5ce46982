package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/multichat/mediapipe/internal/reason"
)

// permanentError marks a failure that no retry can fix.
type permanentError struct {
	reason    string
	err       error
	exhausted bool // the handler's own retries ran out
}

func (e *permanentError) Error() string {
	if e.err == nil {
		return e.reason
	}
	return e.reason + ": " + e.err.Error()
}

func (e *permanentError) Unwrap() error  { return e.err }
func (e *permanentError) Reason() string { return e.reason }

// FailureReason implements reason.Carrier.
func (e *permanentError) FailureReason() (reason.Reason, bool) { return reason.Reason(e.reason), false }

// retryAfterError asks for a redelivery after a fixed delay.
type retryAfterError struct {
	after time.Duration
	err   error
}

func (e *retryAfterError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("retry after %s", e.after)
	}
	return e.err.Error()
}

func (e *retryAfterError) Unwrap() error { return e.err }

// reasonError attaches a stable reason to a retryable error.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string  { return e.err.Error() }
func (e *reasonError) Unwrap() error  { return e.err }
func (e *reasonError) Reason() string { return e.reason }

// FailureReason implements reason.Carrier.
func (e *reasonError) FailureReason() (reason.Reason, bool) { return reason.Reason(e.reason), true }

// fieldsError carries log fields naming what a message is about.
type fieldsError struct {
	fields []zap.Field
	err    error
}

func (e *fieldsError) Error() string { return e.err.Error() }
func (e *fieldsError) Unwrap() error { return e.err }

// WithFields attaches fields naming what the message is about (a media
// item's ids) to err: Settle adds them to its redelivery and dead-letter log
// lines and to the dead-letter record (About). Keep secrets out of them.
func WithFields(err error, fields ...zap.Field) error {
	if err == nil || len(fields) == 0 {
		return err
	}
	return &fieldsError{fields: fields, err: err}
}

// FieldsOf returns the fields attached to err with WithFields.
func FieldsOf(err error) []zap.Field {
	var f *fieldsError
	if errors.As(err, &f) {
		return f.fields
	}
	return nil
}

// Permanent marks err as a permanent failure with a stable reason (e.g.
// "malformed_webhook"): the message is terminated and dead-lettered instead
// of retried. An empty reason becomes "permanent"; err may be nil.
func Permanent(reason string, err error) error {
	if reason == "" {
		reason = "permanent"
	}
	return &permanentError{reason: reason, err: err}
}

// Exhausted marks err as the end of a message whose handler ran out of its
// own retries (and recorded the outcome): like Permanent, with a
// dead-letter record that says exhausted=true.
func Exhausted(reason string, err error) error {
	if reason == "" {
		reason = "exhausted"
	}
	return &permanentError{reason: reason, err: err, exhausted: true}
}

// RetryAfter asks for the message to be redelivered after d (e.g. an HTTP
// Retry-After) instead of after the exponential backoff. It still counts as
// a delivery toward MaxDeliver.
func RetryAfter(d time.Duration, err error) error {
	return &retryAfterError{after: max(d, 0), err: err}
}

// WithReason attaches a stable reason to a retryable err, so that the
// dead-letter record of an exhausted message (and ReasonOf) carries it.
func WithReason(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &reasonError{reason: reason, err: err}
}

// ReasonOf returns the reason of the first error in err's chain that carries
// one (Permanent, WithReason, reason.Permanent, reason.Retry, a fetch
// error, or a caller's own type with a Reason() string method), or "" when
// there is none.
func ReasonOf(err error) string {
	r, _ := reason.Of(err)
	return string(r)
}

// IsPermanent reports whether err's chain holds a Permanent error, or its
// first reason.Carrier says no retry can fix it.
func IsPermanent(err error) bool {
	var p *permanentError
	if errors.As(err, &p) {
		return true
	}
	var c reason.Carrier
	if errors.As(err, &c) {
		_, transient := c.FailureReason()
		return !transient
	}
	return false
}

// Settler holds what Settle needs besides the message and the handler's
// result.
type Settler struct {
	// JS publishes dead-letter records; required for Permanent and
	// exhausted messages.
	JS jetstream.JetStream
	// MaxDeliver is the consumer's MaxDeliver: a retryable error on that
	// delivery exhausts the message. Zero or less never exhausts (Run fills
	// a zero from the consumer's configuration).
	MaxDeliver int
	// BackoffBase and BackoffMax bound the exponential full-jitter backoff
	// for plain errors; defaults 500 ms and 5 min.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// RecordExhausted, when set, is called once for a message whose last
	// delivery failed with a retryable error, before its dead-letter record
	// is written (the downloader marks its row failed there). It handles
	// its own errors and returns the reason it recorded, which the
	// dead-letter record then names too ("": the error's), so that both
	// say the same.
	RecordExhausted func(ctx context.Context, msg jetstream.Msg, err error) (reason string)
	// Describe, when set, names what a message is about (log fields such as
	// a media item's ids) for the redelivery and dead-letter lines and the
	// dead-letter record, when the handler's error carries no fields of its
	// own (WithFields).
	Describe func(msg jetstream.Msg) []zap.Field
	// Logger records retries and dead-letters; nil discards them.
	Logger *zap.Logger
}

// Default backoff bounds for plain errors.
const (
	DefaultBackoffBase = 500 * time.Millisecond
	DefaultBackoffMax  = 5 * time.Minute
)

// Settle maps a handler's result onto the message:
//
//   - nil: Ack. A plain ack, not DoubleAck: an ack lost on the way only
//     causes a redelivery, which PostgreSQL's idempotency absorbs, while a
//     DoubleAck would cost a round trip per message.
//   - Permanent: a dead-letter record, then TermWithReason(reason).
//   - RetryAfter: NakWithDelay(d).
//   - any other error: NakWithDelay with exponential full-jitter backoff from
//     the delivery count.
//
// A retryable error on delivery MaxDeliver exhausts the message instead:
// RecordExhausted, a dead-letter record with exhausted=true, and Term. If the
// dead-letter record cannot be written the message is nak'ed so a later
// delivery writes it, unless this was its last delivery, in which case it is
// terminated anyway and the error says which message it was.
//
// Settle returns what went wrong while settling, never the handler's error.
func Settle(ctx context.Context, msg jetstream.Msg, handlerErr error, s Settler) error {
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("reading message metadata: %w", err)
	}
	if handlerErr == nil {
		if err := msg.Ack(); err != nil {
			return fmt.Errorf("acking %s #%d: %w", meta.Stream, meta.Sequence.Stream, err)
		}
		return nil
	}
	about := FieldsOf(handlerErr)
	if len(about) == 0 && s.Describe != nil {
		about = s.Describe(msg)
	}
	log := s.logger().With(zap.String("stream", meta.Stream), zap.Uint64("stream_seq", meta.Sequence.Stream),
		zap.Uint64("deliveries", meta.NumDelivered)).With(about...)
	last := s.MaxDeliver > 0 && meta.NumDelivered >= uint64(s.MaxDeliver)

	if IsPermanent(handlerErr) {
		var p *permanentError
		exhausted := errors.As(handlerErr, &p) && p.exhausted
		return s.deadLetter(ctx, msg, meta, handlerErr, string(reason.OrInternal(handlerErr)), exhausted, last, about, log)
	}
	if last {
		r := ""
		if s.RecordExhausted != nil {
			r = s.RecordExhausted(ctx, msg, handlerErr)
		}
		if r == "" {
			r = string(reason.OrInternal(handlerErr))
		}
		return s.deadLetter(ctx, msg, meta, handlerErr, r, true, true, about, log)
	}
	delay := s.backoff(meta.NumDelivered)
	var ra *retryAfterError
	if errors.As(handlerErr, &ra) {
		delay = ra.after
	}
	log.Info("message will be redelivered", zap.Duration("delay", delay),
		zap.String("reason", string(reason.OrInternal(handlerErr))), zap.Error(handlerErr))
	if err := msg.NakWithDelay(delay); err != nil {
		return fmt.Errorf("nak'ing %s #%d: %w", meta.Stream, meta.Sequence.Stream, err)
	}
	return nil
}

func (s Settler) deadLetter(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, handlerErr error,
	reason string, exhausted, last bool, about []zap.Field, log *zap.Logger) error {
	rec := newDeadLetter(msg, meta, handlerErr, reason, exhausted)
	rec.About = aboutMap(about)
	if err := publishDeadLetter(ctx, s.JS, rec); err != nil {
		err = fmt.Errorf("dead-lettering %s #%d (%s): %w", meta.Stream, meta.Sequence.Stream, reason, err)
		if last {
			return errors.Join(err, msg.TermWithReason(reason))
		}
		return errors.Join(err, msg.NakWithDelay(s.backoff(meta.NumDelivered)))
	}
	log.Warn("message dead-lettered", zap.String("reason", reason), zap.Bool("exhausted", exhausted),
		zap.Error(handlerErr))
	if err := msg.TermWithReason(reason); err != nil {
		return fmt.Errorf("terminating %s #%d: %w", meta.Stream, meta.Sequence.Stream, err)
	}
	return nil
}

func (s Settler) backoff(deliveries uint64) time.Duration {
	base, ceiling := s.BackoffBase, s.BackoffMax
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if ceiling <= 0 {
		ceiling = DefaultBackoffMax
	}
	return backoff(int(min(deliveries, 64)), base, ceiling)
}

func (s Settler) logger() *zap.Logger {
	if s.Logger == nil {
		return zap.NewNop()
	}
	return s.Logger
}

// backoff returns a delay drawn uniformly from [0, min(ceiling, base·2^(n-1))]
// for the n-th attempt (n ≥ 1): exponential with full jitter.
func backoff(n int, base, ceiling time.Duration) time.Duration {
	limit := base
	for i := 1; i < n && limit < ceiling; i++ {
		limit *= 2
	}
	limit = min(limit, ceiling)
	if limit <= 0 {
		return 0
	}
	return rand.N(limit + 1)
}

// aboutMap renders log fields as the About map of a dead-letter record.
func aboutMap(fields []zap.Field) map[string]any {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	return enc.Fields
}
