package admin_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// park settles the next message of stream's consumer as a permanent
// failure of reason, as a stage would.
func (b *testBundle) park(t *testing.T, stream, consumer, reason string) {
	t.Helper()
	cons, err := b.js.Consumer(b.ctx, stream, consumer)
	require.NoError(t, err)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var msg jetstream.Msg
	for m := range batch.Messages() {
		msg = m
	}
	require.NotNil(t, msg)
	require.NoError(t, bus.Settle(b.ctx, msg, bus.Permanent(reason, nil), bus.Settler{JS: b.js}))
}

func (b *testBundle) streamMsgs(t *testing.T, stream string) uint64 {
	t.Helper()
	st, err := b.js.Stream(b.ctx, stream)
	require.NoError(t, err)
	info, err := st.Info(b.ctx)
	require.NoError(t, err)
	return info.State.Msgs
}

func TestDeadLettersPageListsAndReplaysAfterConfirmation(t *testing.T) {
	b := setup(t)
	subj, err := bus.WebhookSubject("GONE-1")
	require.NoError(t, err)
	_, err = b.js.Publish(b.ctx, subj, []byte(`{"event":"webhookReceived"}`))
	require.NoError(t, err)
	b.park(t, bus.StreamWebhooks, bus.ConsumerAnalyzer, "unknown_instance")
	failed := b.record(t, b.acme, wamedia.Image)
	require.NoError(t, job.PublishAll(b.ctx, b.js, []job.Download{{MediaID: failed, ClienteID: b.acme.id, InstanceID: b.acme.instance, Type: wamedia.Image}}, job.PublishOptions{}).Err())
	require.NoError(t, b.store.Fail(b.ctx, failed, catalog.StatusFailed, "mac_mismatch"))
	b.park(t, bus.StreamDownloads, bus.ConsumerDownloader, "mac_mismatch")

	c := b.client(t)
	csrf := c.login()
	page := c.get("/admin/deadletters")
	require.Equal(t, http.StatusOK, page.StatusCode)
	require.Contains(t, page.body, `data-seq="1"`)
	require.Contains(t, page.body, `data-seq="2"`)
	page = c.get("/admin/deadletters?reason=unknown_instance")
	require.Contains(t, page.body, `data-seq="1"`)
	require.NotContains(t, page.body, `data-seq="2"`)
	require.Contains(t, page.body, `id="replay-all"`)
	require.Equal(t, http.StatusBadRequest, c.get("/admin/deadletters?stream=NOPE").StatusCode)

	// CSRF, and a selection, are required.
	require.Equal(t, http.StatusForbidden, c.post("/admin/deadletters/replay", url.Values{"seq": {"1"}}).StatusCode)
	require.Equal(t, http.StatusBadRequest, c.post("/admin/deadletters/replay", url.Values{"csrf": {csrf}}).StatusCode)

	// The first post only asks for confirmation.
	resp := c.post("/admin/deadletters/replay", url.Values{"csrf": {csrf}, "seq": {"1"}})
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.body)
	require.Contains(t, resp.body, `id="confirm-replay"`)
	require.Contains(t, resp.body, "Replay 1 record(s)")
	require.Equal(t, uint64(1), b.streamMsgs(t, bus.StreamWebhooks), "nothing replayed before the confirmation")

	resp = c.post("/admin/deadletters/replay", url.Values{"csrf": {csrf}, "seq": {"1"}, "confirm": {"1"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, resp.body)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "/admin/deadletters", loc.Path)
	require.Equal(t, uint64(2), b.streamMsgs(t, bus.StreamWebhooks))
	page = c.get(resp.Header.Get("Location"))
	require.Contains(t, page.body, "Replayed 1, skipped 0, failed 0.")
	require.Contains(t, page.body, "→ WEBHOOKS:2")
	require.Contains(t, page.body, "Replay again…")

	// "Replay all" of a filter posts the records the page listed, not the
	// filter: a record dead-lettered after the page was drawn is not taken
	// in, neither by the confirmation nor by the replay.
	page = c.get("/admin/deadletters?stream=DOWNLOADS")
	all := confirmForm(t, page.body, "replay-all")
	require.Equal(t, []string{"2"}, all["seq"])
	late := b.record(t, b.acme, wamedia.Video)
	require.NoError(t, job.PublishAll(b.ctx, b.js, []job.Download{{MediaID: late, ClienteID: b.acme.id, InstanceID: b.acme.instance, Type: wamedia.Video}}, job.PublishOptions{}).Err())
	b.park(t, bus.StreamDownloads, bus.ConsumerDownloader, "mac_mismatch")
	require.Contains(t, c.get("/admin/deadletters?stream=DOWNLOADS").body, `data-seq="4"`, "3 marks the replay of 1")
	resp = c.post("/admin/deadletters/replay", all)
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.body)
	confirm := confirmForm(t, resp.body, "confirm-replay")
	require.Equal(t, []string{"2"}, confirm["seq"])
	require.NotContains(t, resp.body, "#4")
	resp = c.post("/admin/deadletters/replay", confirm)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, resp.body)
	require.Contains(t, resp.Header.Get("Location"), "n=1")
	status, _ := b.status(t, failed)
	require.Equal(t, catalog.StatusPending, status)
	jobs := b.jobs(t)
	require.Len(t, jobs, 3)
	require.Equal(t, job.Download{MediaID: failed, ClienteID: b.acme.id, InstanceID: b.acme.instance, Type: wamedia.Image}, jobs[2])

	// Everything replayed: the confirmation says there is nothing to do.
	require.NotContains(t, c.get("/admin/deadletters?reason=unknown_instance").body, `id="replay-all"`)
	resp = c.post("/admin/deadletters/replay", url.Values{"csrf": {csrf}, "seq": {"1"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.body, `id="nothing"`)
}

func TestDeadLettersPageWithoutJetStream(t *testing.T) {
	b := setup(t, setupOptions{noJS: true})
	c := b.client(t)
	csrf := c.login()
	require.Equal(t, http.StatusServiceUnavailable, c.get("/admin/deadletters").StatusCode)
	require.Equal(t, http.StatusServiceUnavailable, c.post("/admin/deadletters/replay", url.Values{"csrf": {csrf}, "seq": {"1"}}).StatusCode)
}
