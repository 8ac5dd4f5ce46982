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
	dls, err := bus.ListDeadLetters(ctx, b.js, bus.DeadLetterFilter{Limit: 1})
	require.NoError(t, err)
	require.Len(t, dls, 1)

	// Replaying twice within the duplicate window stores the replay once.
	re, err := bus.Republish(ctx, b.js, dls[0].Stream, dls[0].StreamSeq)
	require.NoError(t, err)
	require.False(t, re.Duplicate)
	require.Greater(t, re.Sequence, ack.Sequence)
	again, err := bus.Republish(ctx, b.js, dls[0].Stream, dls[0].StreamSeq)
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, re.Sequence, again.Sequence)

	replay := fetchOne(t, cons, 2*time.Second)
	require.NotNil(t, replay)
	require.Equal(t, re.Sequence, meta(t, replay).Sequence.Stream)
	require.Equal(t, subj, replay.Subject())
	require.Equal(t, orig.Data, replay.Data())
	require.Equal(t, "2024-05-01T10:00:00Z", replay.Headers().Get("Received-At"))
	require.Equal(t, fmt.Sprintf("WEBHOOKS:%d", ack.Sequence), replay.Headers().Get(bus.HeaderReplayOf))
	id := replay.Headers().Get(jetstream.MsgIDHeader)
	require.NotEmpty(t, id)
	require.NotEqual(t, "wapi-msg-1", id)
	require.NoError(t, replay.Ack())
	require.Nil(t, fetchOne(t, cons, 200*time.Millisecond))

	_, err = bus.Republish(ctx, b.js, bus.StreamWebhooks, 999)
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound)
}

func TestDeadLettersListsNewestFirst(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	ctx := testCtx(t)
	dls, err := bus.ListDeadLetters(ctx, b.js, bus.DeadLetterFilter{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, dls)

	b.publishWebhooks(t, 5)
	cons := b.analyzer(t)
	for i := range 5 {
		m := fetchOne(t, cons, 2*time.Second)
		require.NotNil(t, m)
		require.NoError(t, bus.Settle(ctx, m, bus.Permanent(fmt.Sprintf("reason_%d", i), nil), testSettler(b)))
	}

	dls, err = bus.ListDeadLetters(ctx, b.js, bus.DeadLetterFilter{Limit: 3})
	require.NoError(t, err)
	require.Len(t, dls, 3)
	for i, dl := range dls {
		require.Equal(t, uint64(5-i), dl.StreamSeq)
		require.Equal(t, fmt.Sprintf("reason_%d", 4-i), dl.Reason)
		require.Equal(t, uint64(5-i), dl.Seq)
	}
}

func TestListDeadLettersFiltersAndShowsReplayMarks(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	ctx := testCtx(t)
	b.publishWebhooks(t, 4)
	cons := b.analyzer(t)
	for i := range 4 {
		m := fetchOne(t, cons, 2*time.Second)
		require.NotNil(t, m)
		reason := "unknown_instance"
		if i%2 == 1 {
			reason = "malformed_webhook"
		}
		require.NoError(t, bus.Settle(ctx, m, bus.Permanent(reason, nil), testSettler(b)))
	}
	all, err := bus.ListDeadLetters(ctx, b.js, bus.DeadLetterFilter{})
	require.NoError(t, err)
	require.Len(t, all, 4)

	require.NoError(t, bus.MarkReplayed(ctx, b.js, bus.Replay{Seq: all[3].Seq, To: "WEBHOOKS:99"}))
	tests := []struct {
		name string
		f    bus.DeadLetterFilter
		want []uint64 // record sequences, newest first
	}{
		{"all", bus.DeadLetterFilter{}, []uint64{4, 3, 2, 1}},
		{"reason", bus.DeadLetterFilter{Reason: "unknown_instance"}, []uint64{3, 1}},
		{"stream", bus.DeadLetterFilter{Stream: "webhooks"}, []uint64{4, 3, 2, 1}},
		{"other stream", bus.DeadLetterFilter{Stream: bus.StreamDownloads}, nil},
		{"seqs", bus.DeadLetterFilter{Seqs: []uint64{2, 4}}, []uint64{4, 2}},
		{"limit", bus.DeadLetterFilter{Limit: 1}, []uint64{4}},
		{"since", bus.DeadLetterFilter{Since: time.Now().Add(time.Hour)}, nil},
	}
	for _, tc := range tests {
		got, err := bus.ListDeadLetters(ctx, b.js, tc.f)
		require.NoError(t, err, tc.name)
		var seqs []uint64
		for _, rec := range got {
			seqs = append(seqs, rec.Seq)
			if rec.Seq == 1 {
				require.NotNil(t, rec.Replayed, tc.name)
				require.Equal(t, "WEBHOOKS:99", rec.Replayed.To)
				require.False(t, rec.Replayed.At.IsZero())
			} else {
				require.Nil(t, rec.Replayed, tc.name)
			}
		}
		require.Equal(t, tc.want, seqs, tc.name)
	}
}
