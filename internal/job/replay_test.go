package job_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/catalogtest"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// park fetches the next message of stream's durable consumer and settles it
// as a permanent failure of reason, as a stage would.
func park(t *testing.T, ctx context.Context, js jetstream.JetStream, stream, consumer, reason string) {
	t.Helper()
	cons, err := js.Consumer(ctx, stream, consumer)
	require.NoError(t, err)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var msg jetstream.Msg
	for m := range batch.Messages() {
		msg = m
	}
	require.NotNil(t, msg)
	require.NoError(t, bus.Settle(ctx, msg, bus.Permanent(reason, nil), bus.Settler{JS: js}))
}

func outcomes(rep job.ReplayReport) []string {
	var out []string
	for _, it := range rep.Items {
		out = append(out, it.Outcome)
	}
	return out
}

// TestReplayDeadLettersReprocessesDownloadsAndSkipsWhatIsDone replays a
// parked download job: its failed row goes back to pending and a fresh job
// is queued under the cliente and instance; the record is marked and skipped
// next time; a row that succeeded since is left alone; a webhook whose
// original aged out is reported, not marked.
func TestReplayDeadLettersReprocessesDownloadsAndSkipsWhatIsDone(t *testing.T) {
	t.Parallel()
	ctx, js := setup(t)
	store, _ := pgtest.NewStore(t)
	tenant, err := operator.New(store).Register(ctx, "acme", "INST-1", "w")
	require.NoError(t, err)
	rec, err := store.RecordMessages(ctx, []catalog.Message{catalogtest.Message("INST-1", "5511", catalogtest.Descriptor(wamedia.Image))})
	require.NoError(t, err)
	id := rec[0].MediaID
	require.NoError(t, job.PublishAll(ctx, js, []job.Download{{MediaID: id, ClienteID: tenant.ClienteID, InstanceID: "INST-1", Type: wamedia.Image}}, job.PublishOptions{}).Err())
	require.NoError(t, store.Fail(ctx, id, catalog.StatusFailed, "enc_hash_mismatch"))
	park(t, ctx, js, bus.StreamDownloads, bus.ConsumerDownloader, "enc_hash_mismatch")

	dry, err := job.ReplayDeadLetters(ctx, store, js, job.ReplayOptions{DeadLetterFilter: bus.DeadLetterFilter{Stream: bus.StreamDownloads}, DryRun: true})
	require.NoError(t, err)
	require.Equal(t, []string{job.WouldReplay}, outcomes(dry))
	require.Equal(t, 1, dry.Replayed)
	row, err := store.MediaByID(ctx, tenant.ClienteID, id)
	require.NoError(t, err)
	require.Equal(t, catalog.StatusFailed, row.Status, "a dry run changes nothing")

	var progress []int
	rep, err := job.ReplayDeadLetters(ctx, store, js, job.ReplayOptions{
		DeadLetterFilter: bus.DeadLetterFilter{Reason: "enc_hash_mismatch"},
		Progress:         func(done, total int) { progress = append(progress, done, total) },
	})
	require.NoError(t, err)
	require.Equal(t, []string{job.Replayed}, outcomes(rep), rep.Items)
	require.Equal(t, []int{1, 1}, progress)
	require.Equal(t, "media "+itoa(id), rep.Items[0].Detail)
	row, err = store.MediaByID(ctx, tenant.ClienteID, id)
	require.NoError(t, err)
	require.Equal(t, catalog.StatusPending, row.Status)
	st, err := js.Stream(ctx, bus.StreamDownloads)
	require.NoError(t, err)
	raw, err := st.GetMsg(ctx, 2)
	require.NoError(t, err)
	d, err := job.Decode(raw.Data)
	require.NoError(t, err)
	require.Equal(t, job.Download{MediaID: id, ClienteID: tenant.ClienteID, InstanceID: "INST-1", Type: wamedia.Image}, d)

	rep, err = job.ReplayDeadLetters(ctx, store, js, job.ReplayOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{job.AlreadyReplayed}, outcomes(rep))
	require.Equal(t, 1, rep.Skipped)

	require.NoError(t, store.Succeed(ctx, id, catalog.Stored{Path: "1/aa.jpg", Size: 1, Mimetype: "image/jpeg", SHA256: make([]byte, 32)}))
	rep, err = job.ReplayDeadLetters(ctx, store, js, job.ReplayOptions{Again: true})
	require.NoError(t, err)
	require.Equal(t, []string{job.NothingToDo}, outcomes(rep))

	// A webhook whose original is gone.
	subj, err := bus.WebhookSubject("INST-1")
	require.NoError(t, err)
	ack, err := js.Publish(ctx, subj, []byte(`{}`))
	require.NoError(t, err)
	park(t, ctx, js, bus.StreamWebhooks, bus.ConsumerAnalyzer, "malformed_webhook")
	wh, err := js.Stream(ctx, bus.StreamWebhooks)
	require.NoError(t, err)
	require.NoError(t, wh.DeleteMsg(ctx, ack.Sequence))
	rep, err = job.ReplayDeadLetters(ctx, store, js, job.ReplayOptions{DeadLetterFilter: bus.DeadLetterFilter{Reason: "malformed_webhook"}})
	require.NoError(t, err)
	require.Equal(t, []string{job.OriginalGone}, outcomes(rep))
	recs, err := bus.ListDeadLetters(ctx, js, bus.DeadLetterFilter{Reason: "malformed_webhook"})
	require.NoError(t, err)
	require.Nil(t, recs[0].Replayed)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
