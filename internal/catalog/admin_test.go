package catalog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func mediaIDs(items []catalog.Media) []int64 {
	out := make([]int64, len(items))
	for i, m := range items {
		out[i] = m.ID
	}
	return out
}

func TestAdminListMedia(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)

	image := b.recordOne(t, descriptor(wamedia.Image))
	video := b.recordOne(t, descriptor(wamedia.Video))
	m := b.message(descriptor(wamedia.Image))
	m.InstanceID, m.ChatRemoteID, m.ChatJID = other.InstanceID, "120363000000000001@g.us", "120363000000000001@g.us"
	otherImage := b.record(t, m)[0].MediaID
	require.NoError(t, b.store.Fail(b.ctx, video, catalog.StatusFailed, "mac_mismatch"))

	list := func(f catalog.AdminMediaFilter) []int64 {
		t.Helper()
		page, err := b.op.AdminListMedia(b.ctx, f)
		require.NoError(t, err)
		return mediaIDs(page.Items)
	}
	require.Equal(t, []int64{otherImage, video, image}, list(catalog.AdminMediaFilter{}), "every cliente, newest first")
	require.Equal(t, []int64{video, image}, list(catalog.AdminMediaFilter{ClienteID: b.clienteID}))
	require.Equal(t, []int64{otherImage}, list(catalog.AdminMediaFilter{InstanceID: other.InstanceID}))
	require.Equal(t, []int64{otherImage, image}, list(catalog.AdminMediaFilter{Type: wamedia.Image}))
	require.Equal(t, []int64{video}, list(catalog.AdminMediaFilter{Status: catalog.StatusFailed}))
	require.Equal(t, []int64{video}, list(catalog.AdminMediaFilter{Reason: "mac_mismatch"}))
	require.Empty(t, list(catalog.AdminMediaFilter{Reason: "timeout"}))
	require.Equal(t, []int64{otherImage}, list(catalog.AdminMediaFilter{Chat: "120363000000000001@g.us"}))
	require.Equal(t, []int64{video, image}, list(catalog.AdminMediaFilter{Chat: "5511911112222@s.whatsapp.net"}))
	require.Empty(t, list(catalog.AdminMediaFilter{Chat: "5511911112222", InstanceID: other.InstanceID}))
	require.Empty(t, list(catalog.AdminMediaFilter{Since: time.Now().Add(time.Hour)}))
	require.Len(t, list(catalog.AdminMediaFilter{Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour)}), 3)

	// Paging by id.
	page, err := b.op.AdminListMedia(b.ctx, catalog.AdminMediaFilter{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []int64{otherImage, video}, mediaIDs(page.Items))
	require.Equal(t, video, page.Next)
	page, err = b.op.AdminListMedia(b.ctx, catalog.AdminMediaFilter{Limit: 2, Before: page.Next})
	require.NoError(t, err)
	require.Equal(t, []int64{image}, mediaIDs(page.Items))
	require.Zero(t, page.Next)

	for _, f := range []catalog.AdminMediaFilter{
		{Type: "gif"}, {Status: "done"}, {Reason: "x'; --"}, {InstanceID: "a b"},
		{Limit: catalog.MaxMediaLimit + 1}, {Before: -1}, {ClienteID: -2},
	} {
		_, err := b.op.AdminListMedia(b.ctx, f)
		require.ErrorIs(t, err, catalog.ErrInvalidFilter, "%+v", f)
	}
}

func TestAdminMediaByID(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	m := b.message(descriptor(wamedia.Document))
	m.InstanceID = other.InstanceID
	id := b.record(t, m)[0].MediaID

	got, err := b.op.AdminMediaByID(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, other.ClienteID, got.ClienteID)
	require.Equal(t, "report.pdf", got.FileName)
	require.True(t, got.HasThumbnail)
	thumb, err := b.op.AdminMediaThumbnail(b.ctx, id)
	require.NoError(t, err)
	require.Len(t, thumb, 600)

	_, err = b.op.AdminMediaByID(b.ctx, id+1000)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	noThumb := descriptor(wamedia.Audio)
	noThumb.Thumbnail = nil
	audio := b.recordOne(t, noThumb)
	_, err = b.op.AdminMediaThumbnail(b.ctx, audio)
	require.ErrorIs(t, err, catalog.ErrNotFound)
}

func TestClientes(t *testing.T) {
	b := setup(t)
	_, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	_, err = b.op.Register(b.ctx, "acme", "ACME-2", "t")
	require.NoError(t, err)
	cs, err := b.op.Clientes(b.ctx)
	require.NoError(t, err)
	require.Len(t, cs, 2)
	require.Equal(t, "acme", cs[0].Name)
	require.Equal(t, b.clienteID, cs[0].ID)
	require.Equal(t, 2, cs[0].Instances)
	require.Equal(t, "globex", cs[1].Name)
	require.Equal(t, 1, cs[1].Instances)
}

func TestMediaPerDay(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	old := b.recordOne(t, descriptor(wamedia.Image))
	b.recordOne(t, descriptor(wamedia.Image))
	m := b.message(descriptor(wamedia.Video))
	m.InstanceID = other.InstanceID
	b.record(t, m)
	_, err = pgtest.DB(t, b.store).Exec(b.ctx, `UPDATE media_files SET created_at = now() - interval '2 days' WHERE id = $1`, old)
	require.NoError(t, err)

	today := time.Now().UTC().Truncate(24 * time.Hour)
	days, err := b.op.MediaPerDay(b.ctx, 0, today.AddDate(0, 0, -3))
	require.NoError(t, err)
	require.Equal(t, []catalog.DayCount{
		{Day: today.AddDate(0, 0, -3), Count: 0},
		{Day: today.AddDate(0, 0, -2), Count: 1},
		{Day: today.AddDate(0, 0, -1), Count: 0},
		{Day: today, Count: 2},
	}, days)

	days, err = b.op.MediaPerDay(b.ctx, other.ClienteID, today.AddDate(0, 0, -2).Add(5*time.Hour))
	require.NoError(t, err)
	require.Len(t, days, 3, "since is rounded down to its day")
	require.Equal(t, int64(0), days[0].Count)
	require.Equal(t, int64(1), days[2].Count)
}

func TestResetMediaForReprocess(t *testing.T) {
	b := setup(t)
	failed := b.recordOne(t, descriptor(wamedia.Sticker))
	require.NoError(t, b.store.Fail(b.ctx, failed, catalog.StatusExpired, "expired"))
	success := b.recordOne(t, descriptor(wamedia.Image))
	require.NoError(t, b.store.Succeed(b.ctx, success, catalog.Stored{Path: "p", Size: 1}))
	incomplete := descriptor(wamedia.Document)
	incomplete.FileSHA256 = nil
	incomplete.Check()
	missing := b.recordOne(t, incomplete)

	ref, err := b.store.ResetMediaForReprocess(b.ctx, failed)
	require.NoError(t, err)
	require.Equal(t, catalog.PendingDownload{ID: failed, Type: wamedia.Sticker, ClienteID: b.clienteID, InstanceID: b.instance}, ref)
	status, reason := b.status(t, failed)
	require.Equal(t, catalog.StatusPending, status)
	require.Empty(t, reason)

	_, err = b.store.ResetMediaForReprocess(b.ctx, success)
	require.ErrorIs(t, err, catalog.ErrNotReprocessable)
	status, _ = b.status(t, success)
	require.Equal(t, catalog.StatusSuccess, status)
	_, err = b.store.ResetMediaForReprocess(b.ctx, missing)
	require.ErrorIs(t, err, catalog.ErrNotReprocessable)
	_, err = b.store.ResetMediaForReprocess(b.ctx, failed+1000)
	require.ErrorIs(t, err, catalog.ErrNotFound)
}
