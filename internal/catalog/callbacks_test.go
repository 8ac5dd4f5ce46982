package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// relayed takes every unpublished event, marking it published.
func (b *testBundle) relayed(t *testing.T) []catalog.Event {
	t.Helper()
	var all []catalog.Event
	for {
		var got []catalog.Event
		n, err := b.store.RelayEvents(b.ctx, 100, func(evs []catalog.Event) error {
			got = evs
			return nil
		})
		require.NoError(t, err)
		all = append(all, got...)
		if n < 100 {
			return all
		}
	}
}

func TestEventsAtFinalStatus(t *testing.T) {
	b := setup(t)
	ok := b.recordOne(t, descriptor(wamedia.Image))
	bad := b.recordOne(t, descriptor(wamedia.Video))
	gone := b.recordOne(t, descriptor(wamedia.Audio))
	require.Empty(t, b.relayed(t), "pending rows have no event")

	d := descriptor(wamedia.Image)
	_, _, err := b.store.StartDownload(b.ctx, ok)
	require.NoError(t, err)
	require.Empty(t, b.relayed(t), "downloading is no final status")

	// An event is written in the transaction of the final status: an
	// aborted one leaves none.
	tx, err := pgtest.DB(t, b.store).Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `UPDATE media_files SET download_status = 'failed', failure_reason = 'x' WHERE id = $1`, bad)
	require.NoError(t, err)
	require.Empty(t, b.relayed(t), "an uncommitted status has no visible event")
	require.NoError(t, tx.Rollback(b.ctx))
	require.Empty(t, b.relayed(t))

	require.NoError(t, b.store.Succeed(b.ctx, ok, catalog.Stored{Path: "1/a.jpg", Size: 1234, Mimetype: "image/png", SHA256: d.FileSHA256}))
	require.NoError(t, b.store.Fail(b.ctx, bad, catalog.StatusFailed, "http_404"))
	require.NoError(t, b.store.Fail(b.ctx, gone, catalog.StatusExpired, "media_expired"))
	evs := b.relayed(t)
	require.Len(t, evs, 3)
	byMedia := map[int64]catalog.Event{}
	for _, e := range evs {
		byMedia[e.MediaID] = e
		require.Regexp(t, `^evt_[0-9a-f]{32}$`, e.ID)
		require.Equal(t, b.clienteID, e.ClienteID)
	}
	require.Equal(t, "media.ready", byMedia[ok].Type)
	require.Equal(t, "media.failed", byMedia[bad].Type)
	require.Equal(t, "media.expired", byMedia[gone].Type)

	var data map[string]any
	require.NoError(t, json.Unmarshal(byMedia[ok].Data, &data))
	require.EqualValues(t, ok, data["id"])
	require.EqualValues(t, b.clienteID, data["cliente_id"])
	require.Equal(t, b.instance, data["instance_id"])
	require.Equal(t, "image", data["type"])
	require.Equal(t, "image/png", data["mimetype"])
	require.EqualValues(t, 1234, data["size"])
	require.Regexp(t, `^[0-9a-f]{64}$`, data["sha256"])
	require.Nil(t, data["failure_reason"])
	require.NotEmpty(t, data["chat"])
	require.NotEmpty(t, data["message_id"])
	for _, k := range []string{"created_at", "updated_at", "finished_at"} {
		_, err := time.Parse(time.RFC3339Nano, data[k].(string))
		require.NoError(t, err, k)
	}
	require.NoError(t, json.Unmarshal(byMedia[bad].Data, &data))
	require.Equal(t, "http_404", data["failure_reason"])

	// Marked published: a second relay finds nothing, and a repeated final
	// status (a redelivered job) adds no event.
	require.Empty(t, b.relayed(t))
	require.NoError(t, b.store.Fail(b.ctx, gone, catalog.StatusExpired, "media_expired"))
	require.Empty(t, b.relayed(t))

	// Reprocessing sets a row back to pending; its next final status is a
	// new event with a new id.
	_, err = b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{ClienteID: b.clienteID})
	require.NoError(t, err)
	require.NoError(t, b.store.Fail(b.ctx, bad, catalog.StatusFailed, "http_404"))
	again := b.relayed(t)
	require.Len(t, again, 1)
	require.Equal(t, bad, again[0].MediaID)
	require.NotEqual(t, byMedia[bad].ID, again[0].ID)

	// Rows recorded failed at insert (missing fields) have their event too.
	incomplete := descriptor(wamedia.Document)
	incomplete.FileSHA256 = nil
	incomplete.Check()
	b.record(t, b.message(incomplete))
	ins := b.relayed(t)
	require.Len(t, ins, 1)
	require.Equal(t, "media.failed", ins[0].Type)

	// Replay reads the log back in order.
	all, err := b.op.EventsSince(b.ctx, b.clienteID, time.Now().Add(-time.Hour), 0, 100)
	require.NoError(t, err)
	require.Len(t, all, 5)
	page, err := b.op.EventsSince(b.ctx, b.clienteID, time.Now().Add(-time.Hour), all[1].Seq, 2)
	require.NoError(t, err)
	require.Equal(t, []catalog.Event{all[2], all[3]}, page)

	n, err := b.store.UnpublishedEvents(b.ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	pruned, err := b.store.PruneEvents(b.ctx, time.Now().Add(time.Minute), 2)
	require.NoError(t, err)
	require.EqualValues(t, 2, pruned)
}

func TestRelayEventsFailureKeepsThemAndRelaysShare(t *testing.T) {
	b := setup(t)
	for range 30 {
		id := b.recordOne(t, descriptor(wamedia.Sticker))
		require.NoError(t, b.store.Fail(b.ctx, id, catalog.StatusFailed, "http_404"))
	}
	boom := errors.New("no ack")
	_, err := b.store.RelayEvents(b.ctx, 10, func([]catalog.Event) error { return boom })
	require.ErrorIs(t, err, boom)
	n, err := b.store.UnpublishedEvents(b.ctx)
	require.NoError(t, err)
	require.EqualValues(t, 30, n, "a failed publish marks nothing")

	// Concurrent relays never hand out the same event twice.
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				n, err := b.store.RelayEvents(b.ctx, 3, func(evs []catalog.Event) error {
					mu.Lock()
					defer mu.Unlock()
					for _, e := range evs {
						seen[e.ID]++
					}
					time.Sleep(5 * time.Millisecond)
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, 30)
	for id, c := range seen {
		require.Equal(t, 1, c, id)
	}
}

func TestListenEventsWakesOnCommit(t *testing.T) {
	b := setup(t)
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	wake, ready := make(chan struct{}, 1), make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- b.store.ListenEvents(ctx, wake, ready) }()
	<-ready
	id := b.recordOne(t, descriptor(wamedia.Image))
	select {
	case <-wake:
		t.Fatal("a pending row woke the relay")
	case <-time.After(200 * time.Millisecond):
	}
	require.NoError(t, b.store.Fail(b.ctx, id, catalog.StatusFailed, "http_404"))
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after a final status")
	}
	cancel()
	require.NoError(t, <-done)
}

func TestCallbackEndpoints(t *testing.T) {
	b := setup(t)
	_, err := b.op.SetCallback(b.ctx, "nobody", "https://x.example/h", []string{"media.ready"})
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = b.store.CallbackEndpoint(b.ctx, b.clienteID)
	require.ErrorIs(t, err, catalog.ErrNotFound)

	set, err := b.op.SetCallback(b.ctx, "acme", "https://hooks.example/in", []string{"media.ready", "media.failed"})
	require.NoError(t, err)
	require.True(t, set.Created)
	require.Regexp(t, `^whsec_[A-Za-z0-9+/]{43}=$`, set.Secret)
	require.Equal(t, set.Secret, set.Endpoint.Secret)
	require.Equal(t, "acme", set.Endpoint.ClienteName)

	// Setting again changes URL and types, keeps the secret, shows none.
	again, err := b.op.SetCallback(b.ctx, "acme", "https://hooks.example/v2", []string{"media.ready"})
	require.NoError(t, err)
	require.False(t, again.Created)
	require.Empty(t, again.Secret)
	require.Equal(t, set.Secret, again.Endpoint.Secret)
	require.Equal(t, []string{"media.ready"}, again.Endpoint.EventTypes)

	// Rotation: the old secret signs through its grace period only.
	fresh, ep, err := b.op.RotateCallbackSecret(b.ctx, "acme", 24*time.Hour)
	require.NoError(t, err)
	require.NotEqual(t, set.Secret, fresh)
	require.Equal(t, fresh, ep.Secret)
	require.Equal(t, set.Secret, ep.PreviousSecret)
	require.WithinDuration(t, time.Now().Add(24*time.Hour), *ep.PreviousUntil, time.Minute)
	require.Equal(t, []string{fresh, set.Secret}, ep.Signers(time.Now()))
	require.Equal(t, []string{fresh}, ep.Signers(time.Now().Add(25*time.Hour)))

	// A 410 disables the endpoint of that URL only, once.
	done, err := b.store.DisableCallbackEndpoint(b.ctx, b.clienteID, "https://old.example", "gone")
	require.NoError(t, err)
	require.False(t, done, "the URL changed meanwhile")
	done, err = b.store.DisableCallbackEndpoint(b.ctx, b.clienteID, "https://hooks.example/v2", "gone")
	require.NoError(t, err)
	require.True(t, done)
	got, err := b.store.CallbackEndpoint(b.ctx, b.clienteID)
	require.NoError(t, err)
	require.NotNil(t, got.DisabledAt)
	require.Equal(t, "gone", got.DisabledReason)
	was, err := b.op.DisableCallback(b.ctx, "acme")
	require.NoError(t, err)
	require.False(t, was)

	// set enables it again.
	_, err = b.op.SetCallback(b.ctx, "acme", "https://hooks.example/v2", []string{"media.ready"})
	require.NoError(t, err)
	was, err = b.op.DisableCallback(b.ctx, "acme")
	require.NoError(t, err)
	require.True(t, was)

	list, err := b.op.CallbackEndpoints(b.ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	byName, err := b.op.CallbackEndpointByName(b.ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, list[0], byName)
	_, _, err = b.op.RotateCallbackSecret(b.ctx, "nobody", time.Hour)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = b.op.DisableCallback(b.ctx, "nobody")
	require.ErrorIs(t, err, catalog.ErrNotFound)
}
