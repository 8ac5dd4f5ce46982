package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/reason"
)

func testSettler(b testBundle) bus.Settler {
	return bus.Settler{
		JS:          b.js,
		MaxDeliver:  testTopology().AnalyzerMaxDeliver,
		BackoffBase: 10 * time.Millisecond,
		BackoffMax:  50 * time.Millisecond,
	}
}

func TestSettleAck(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	seq := b.publishWebhook(t, "inst1", "ok")
	m := fetchOne(t, b.analyzer(t), 2*time.Second)
	require.NotNil(t, m)

	require.NoError(t, bus.Settle(testCtx(t), m, nil, testSettler(b)))

	require.Eventually(t, settled(t, b), 5*time.Second, 10*time.Millisecond)
	require.Equal(t, seq, b.analyzerInfo(t).AckFloor.Stream)
	dls, err := bus.ListDeadLetters(testCtx(t), b.js, bus.DeadLetterFilter{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, dls)
}

func TestSettlePermanentTerminatesAndDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	ctx := testCtx(t)
	seq := b.publishWebhook(t, "inst1", "poison")
	m := fetchOne(t, b.analyzer(t), 2*time.Second)
	require.NotNil(t, m)

	herr := bus.Permanent("malformed_webhook", errors.New("invalid character '}'"))
	require.NoError(t, bus.Settle(ctx, m, herr, testSettler(b)))

	require.Eventually(t, settled(t, b), 5*time.Second, 10*time.Millisecond)
	require.Equal(t, seq, b.analyzerInfo(t).AckFloor.Stream, "a terminated message is never redelivered")

	dls, err := bus.ListDeadLetters(ctx, b.js, bus.DeadLetterFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	dl := dls[0]
	require.Equal(t, bus.StreamWebhooks, dl.Stream)
	require.Equal(t, bus.ConsumerAnalyzer, dl.Consumer)
	require.Equal(t, "webhooks.wapi.inst1", dl.Subject)
	require.Equal(t, seq, dl.StreamSeq)
	require.Equal(t, uint64(1), dl.Deliveries)
	require.Equal(t, "malformed_webhook", dl.Reason)
	require.Equal(t, "malformed_webhook: invalid character '}'", dl.Error)
	require.Equal(t, "inst1/poison", dl.MsgID)
	require.False(t, dl.Exhausted)
	require.WithinDuration(t, time.Now(), dl.Time, time.Minute)

	// The record's headers point back at the original by sequence.
	st, err := b.js.Stream(ctx, bus.StreamDeadLetter)
	require.NoError(t, err)
	raw, err := st.GetMsg(ctx, dl.Seq)
	require.NoError(t, err)
	require.Equal(t, "deadletter.WEBHOOKS", raw.Subject)
	require.Equal(t, bus.StreamWebhooks, raw.Header.Get(bus.HeaderDeadStream))
	require.Equal(t, fmt.Sprint(seq), raw.Header.Get(bus.HeaderDeadSeq))
	require.Equal(t, "malformed_webhook", raw.Header.Get(bus.HeaderDeadReason))
}

func TestSettleRetryAfterRedeliversAfterTheDelay(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	b.publishWebhook(t, "inst1", "later")
	cons := b.analyzer(t)
	m := fetchOne(t, cons, 2*time.Second)
	require.NotNil(t, m)

	const delay = 400 * time.Millisecond
	naked := time.Now()
	require.NoError(t, bus.Settle(testCtx(t), m, bus.RetryAfter(delay, errors.New("429")), testSettler(b)))

	again := fetchOne(t, cons, 5*time.Second)
	require.NotNil(t, again)
	elapsed := time.Since(naked)
	require.GreaterOrEqual(t, elapsed, delay-20*time.Millisecond)
	require.Less(t, elapsed, delay+1500*time.Millisecond, "well before the 2 s AckWait would redeliver it")
	require.Equal(t, uint64(2), meta(t, again).NumDelivered)
	require.NoError(t, again.Ack())
}

func TestSettlePlainErrorRedeliversWithBackoff(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	b.publishWebhook(t, "inst1", "flaky")
	cons := b.analyzer(t)
	m := fetchOne(t, cons, 2*time.Second)
	require.NotNil(t, m)

	s := testSettler(b)
	s.BackoffBase, s.BackoffMax = 100*time.Millisecond, 100*time.Millisecond
	naked := time.Now()
	require.NoError(t, bus.Settle(testCtx(t), m, errors.New("database unavailable"), s))

	again := fetchOne(t, cons, 5*time.Second)
	require.NotNil(t, again)
	require.Less(t, time.Since(naked), 1500*time.Millisecond, "the backoff, not the 2 s AckWait, redelivers it")
	require.Equal(t, uint64(2), meta(t, again).NumDelivered)
	require.NoError(t, bus.Settle(testCtx(t), again, nil, s))
	require.Eventually(t, settled(t, b), 5*time.Second, 10*time.Millisecond)

	dls, err := bus.ListDeadLetters(testCtx(t), b.js, bus.DeadLetterFilter{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, dls)
}

func TestSettleExhaustedAfterMaxDeliver(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	ctx := testCtx(t)
	seq := b.publishWebhook(t, "inst1", "always failing")
	cons := b.analyzer(t)

	var exhausted []error
	s := testSettler(b)
	s.RecordExhausted = func(_ context.Context, m jetstream.Msg, err error) string {
		require.Equal(t, seq, meta(t, m).Sequence.Stream)
		exhausted = append(exhausted, err)
		return ""
	}
	herr := bus.WithReason("timeout", errors.New("cdn did not answer"))
	for i := 1; i <= s.MaxDeliver; i++ {
		m := fetchOne(t, cons, 5*time.Second)
		require.NotNil(t, m, "delivery %d", i)
		require.Equal(t, uint64(i), meta(t, m).NumDelivered)
		require.NoError(t, bus.Settle(ctx, m, herr, s))
	}

	require.Len(t, exhausted, 1)
	require.ErrorIs(t, exhausted[0], herr)
	require.Eventually(t, settled(t, b), 5*time.Second, 10*time.Millisecond)
	require.Equal(t, seq, b.analyzerInfo(t).AckFloor.Stream, "terminated: no further delivery")

	dls, err := bus.ListDeadLetters(ctx, b.js, bus.DeadLetterFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	require.True(t, dls[0].Exhausted)
	require.Equal(t, "timeout", dls[0].Reason)
	require.Equal(t, uint64(3), dls[0].Deliveries)
	require.Equal(t, "cdn did not answer", dls[0].Error)
}

func TestSettleKeepsTheMessageWhenTheDeadLetterCannotBeWritten(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	ctx := testCtx(t)
	require.NoError(t, b.js.DeleteStream(ctx, bus.StreamDeadLetter))
	b.publishWebhook(t, "inst1", "poison")
	cons := b.analyzer(t)
	m := fetchOne(t, cons, 2*time.Second)
	require.NotNil(t, m)

	err := bus.Settle(ctx, m, bus.Permanent("malformed_webhook", nil), testSettler(b))
	require.ErrorContains(t, err, "dead-lettering WEBHOOKS #1 (malformed_webhook)")

	again := fetchOne(t, cons, 5*time.Second)
	require.NotNil(t, again, "nak'ed so a later delivery can write the record")
	require.NoError(t, again.Ack())
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	p := fmt.Errorf("handling: %w", bus.Permanent("bad_padding", cause))
	require.True(t, bus.IsPermanent(p))
	require.Equal(t, "bad_padding", bus.ReasonOf(p))
	require.ErrorIs(t, p, cause)
	require.Equal(t, "permanent", bus.ReasonOf(bus.Permanent("", nil)))

	r := bus.RetryAfter(time.Second, cause)
	require.False(t, bus.IsPermanent(r))
	require.Equal(t, "", bus.ReasonOf(r))
	require.ErrorIs(t, r, cause)
	require.Equal(t, "boom", r.Error())

	require.Equal(t, "http_error", bus.ReasonOf(bus.RetryAfter(time.Second, bus.WithReason("http_error", cause))))
	require.NoError(t, bus.WithReason("x", nil))
	require.Equal(t, "", bus.ReasonOf(cause))
	require.Equal(t, "", bus.ReasonOf(nil))
}

func TestBackoffIsExponentialWithFullJitter(t *testing.T) {
	t.Parallel()
	base, ceiling := 10*time.Millisecond, time.Second
	for n := 1; n <= 40; n++ {
		limit := min(ceiling, base<<min(n-1, 20))
		seen := map[time.Duration]bool{}
		for range 200 {
			d := bus.Backoff(n, base, ceiling)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, limit, "attempt %d", n)
			seen[d] = true
		}
		require.Greater(t, len(seen), 100, "attempt %d: jittered", n)
	}
	require.Equal(t, time.Duration(0), bus.Backoff(5, 0, 0))
}

// TestSettleReasonEverywhere: a handler's own exhausted verdict, a
// reason.Permanent error and an RecordExhausted that recorded a better reason
// each give the dead-letter record the reason the handler named, and the
// fields the error carries (or Describe gives) name the message in it.
func TestSettleReasonEverywhere(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		err       error
		describe  bool
		onExh     string // what RecordExhausted recorded; "" when not called
		reason    string
		exhausted bool
		about     map[string]any
	}{
		{name: "handler exhausted its own retries",
			err:    bus.WithFields(bus.Exhausted("enc_hash_mismatch", errors.New("corrupt 8 times")), zap.Int64("media_id", 7)),
			reason: "enc_hash_mismatch", exhausted: true, about: map[string]any{"media_id": float64(7)}},
		{name: "reason.Permanent is permanent",
			err:    reason.Permanent(reason.MACMismatch, errors.New("bad mac")),
			reason: "mac_mismatch"},
		{name: "a permanent fetch-like carrier without fields: Describe names the message",
			err: reason.Permanent(reason.HTTPError, errors.New("400")), describe: true,
			reason: "http_error", about: map[string]any{"media_id": float64(42)}},
		{name: "last delivery: RecordExhausted's recorded reason wins over the error's",
			err: reason.Retry(reason.HTTPError, errors.New("500")), onExh: "enc_hash_mismatch",
			reason: "enc_hash_mismatch", exhausted: true},
		{name: "last delivery of an unclassified error: internal",
			err: errors.New("disk on fire"), onExh: "-", reason: "internal", exhausted: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, testTopology())
			ctx := testCtx(t)
			b.publishWebhook(t, "inst1", "x")
			s := testSettler(b)
			called := false
			if c.onExh != "" {
				s.MaxDeliver = 1
				s.RecordExhausted = func(context.Context, jetstream.Msg, error) string {
					called = true
					if c.onExh == "-" {
						return ""
					}
					return c.onExh
				}
			}
			if c.describe {
				s.Describe = func(jetstream.Msg) []zap.Field { return []zap.Field{zap.Int64("media_id", 42)} }
			}
			m := fetchOne(t, b.analyzer(t), 2*time.Second)
			require.NotNil(t, m)
			require.NoError(t, bus.Settle(ctx, m, c.err, s))
			require.Equal(t, c.onExh != "", called)
			dls, err := bus.ListDeadLetters(ctx, b.js, bus.DeadLetterFilter{Limit: 10})
			require.NoError(t, err)
			require.Len(t, dls, 1)
			require.Equal(t, c.reason, dls[0].Reason)
			require.Equal(t, c.exhausted, dls[0].Exhausted)
			require.Equal(t, c.about, dls[0].About)
		})
	}
}
