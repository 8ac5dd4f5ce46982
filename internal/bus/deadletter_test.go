package bus_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
)

func TestRepublishReplaysTheOriginalBySequence(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	ctx := testCtx(t)
	subj, err := bus.WebhookSubject("inst1")
	require.NoError(t, err)
	orig := nats.NewMsg(subj)
	orig.Data = []byte(`{"event":"webhookReceived"}`)
	orig.Header.Set("Received-At", "2024-05-01T10:00:00Z")
	ack, err := b.js.PublishMsg(ctx, orig, jetstream.WithMsgID("wapi-msg-1"))
	require.NoError(t, err)

	// Terminate it as the analyzer would, then replay it from its record.
	cons := b.analyzer(t)
	m := fetchOne(t, cons, 2*time.Second)
	require.NotNil(t, m)
	require.NoError(t, bus.Settle(ctx, m, bus.Permanent("unknown_instance", nil), testSettler(b)))
	dls, err := bus.DeadLetters(ctx, b.js, 1)
	require.NoError(t, err)
	require.Len(t, dls, 1)

	var seqs []uint64
	for range 2 { // replaying twice is not dropped as a duplicate
		re, err := bus.Republish(ctx, b.js, dls[0].Stream, dls[0].StreamSeq)
		require.NoError(t, err)
		require.False(t, re.Duplicate)
		require.Greater(t, re.Sequence, ack.Sequence)
		seqs = append(seqs, re.Sequence)
	}
	for _, seq := range seqs {
		replay := fetchOne(t, cons, 2*time.Second)
		require.NotNil(t, replay)
		require.Equal(t, seq, meta(t, replay).Sequence.Stream)
		require.Equal(t, subj, replay.Subject())
		require.Equal(t, orig.Data, replay.Data())
		require.Equal(t, "2024-05-01T10:00:00Z", replay.Headers().Get("Received-At"))
		require.Equal(t, fmt.Sprintf("WEBHOOKS:%d", ack.Sequence), replay.Headers().Get(bus.HeaderReplayOf))
		id := replay.Headers().Get(jetstream.MsgIDHeader)
		require.NotEmpty(t, id)
		require.NotEqual(t, "wapi-msg-1", id)
		require.NoError(t, replay.Ack())
	}

	_, err = bus.Republish(ctx, b.js, bus.StreamWebhooks, 999)
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound)
}

func TestDeadLettersListsNewestFirst(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	ctx := testCtx(t)
	dls, err := bus.DeadLetters(ctx, b.js, 10)
	require.NoError(t, err)
	require.Empty(t, dls)

	b.publishWebhooks(t, 5)
	cons := b.analyzer(t)
	for i := range 5 {
		m := fetchOne(t, cons, 2*time.Second)
		require.NotNil(t, m)
		require.NoError(t, bus.Settle(ctx, m, bus.Permanent(fmt.Sprintf("reason_%d", i), nil), testSettler(b)))
	}

	dls, err = bus.DeadLetters(ctx, b.js, 3)
	require.NoError(t, err)
	require.Len(t, dls, 3)
	for i, dl := range dls {
		require.Equal(t, uint64(5-i), dl.StreamSeq)
		require.Equal(t, fmt.Sprintf("reason_%d", 4-i), dl.Reason)
		require.Equal(t, uint64(5-i), dl.Seq)
	}
}
