package catalog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func TestMediaCursor(t *testing.T) {
	t.Parallel()
	c := catalog.MediaCursor{CreatedAt: time.Date(2025, 6, 2, 20, 31, 26, 123456000, time.UTC), ID: 42}
	got, err := catalog.ParseMediaCursor(c.String())
	require.NoError(t, err)
	require.True(t, c.CreatedAt.Equal(got.CreatedAt))
	require.Equal(t, c.ID, got.ID)
	require.False(t, got.IsZero())
	for _, bad := range []string{"", "x", "!!!!", c.String() + "A", "AAAAAAAAAAAAAAAAAAAAAAA"} {
		_, err := catalog.ParseMediaCursor(bad)
		require.ErrorIs(t, err, catalog.ErrInvalidFilter, bad)
	}
}

func TestListMedia(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)

	img, aud := descriptor(wamedia.Image), descriptor(wamedia.Audio)
	aud.Thumbnail = nil
	msgs := []catalog.Message{b.message(img), b.message(aud)}
	for range 5 {
		msgs = append(msgs, b.message(descriptor(wamedia.Video)))
	}
	rec := b.record(t, msgs...) // one transaction: one created_at
	g := b.message(descriptor(wamedia.Image))
	g.InstanceID = other.InstanceID
	grec := b.record(t, g)
	require.NoError(t, b.store.Succeed(b.ctx, rec[0].MediaID, catalog.Stored{Path: "1/aa/bb/x.jpg", Size: 10, Mimetype: "image/png", SHA256: sha("x")}))

	// Pages of 3 through 7 rows of equal created_at: by id, descending.
	var seen []int64
	f := catalog.MediaFilter{Limit: 3}
	for {
		page, err := b.store.ListMedia(b.ctx, b.clienteID, f)
		require.NoError(t, err)
		for _, m := range page.Items {
			require.Equal(t, b.clienteID, m.ClienteID)
			seen = append(seen, m.ID)
		}
		if page.Next == nil {
			break
		}
		require.Len(t, page.Items, 3)
		f.After = *page.Next
	}
	require.Len(t, seen, 7)
	for i := 1; i < len(seen); i++ {
		require.Greater(t, seen[i-1], seen[i])
	}

	page, err := b.store.ListMedia(b.ctx, other.ClienteID, catalog.MediaFilter{InstanceID: b.instance})
	require.NoError(t, err)
	require.Empty(t, page.Items, "another cliente's instance")
	page, err = b.store.ListMedia(b.ctx, other.ClienteID, catalog.MediaFilter{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, grec[0].MediaID, page.Items[0].ID)

	page, err = b.store.ListMedia(b.ctx, b.clienteID, catalog.MediaFilter{Type: wamedia.Audio, Chat: "5511911112222@s.whatsapp.net"})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, rec[1].MediaID, page.Items[0].ID)
	require.False(t, page.Items[0].HasThumbnail)

	_, err = b.store.ListMedia(b.ctx, 0, catalog.MediaFilter{})
	require.Error(t, err, "no cliente is not every cliente")
	_, err = b.store.ListMedia(b.ctx, b.clienteID, catalog.MediaFilter{
		Type: "gif", Status: "done", Limit: 501, InstanceID: "a b",
		Since: time.Unix(10, 0), Until: time.Unix(5, 0),
	})
	require.ErrorIs(t, err, catalog.ErrInvalidFilter)
	for _, want := range []string{`type "gif"`, `status "done"`, "limit 501", "invalid instance id", "until must be after since"} {
		require.ErrorContains(t, err, want)
	}
}

func TestMediaByID(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	img := descriptor(wamedia.Image)
	id := b.recordOne(t, img)
	require.NoError(t, b.store.Succeed(b.ctx, id, catalog.Stored{Path: "1/aa/bb/x.jpg", Size: 10, Mimetype: "image/png", SHA256: sha("x")}))

	m, err := b.store.MediaByID(b.ctx, b.clienteID, id)
	require.NoError(t, err)
	require.Equal(t, id, m.ID)
	require.Equal(t, b.instance, m.InstanceID)
	require.NotNil(t, m.Chat)
	require.Equal(t, "5511911112222", m.Chat.RemoteID)
	require.Equal(t, "5511911112222@s.whatsapp.net", m.Chat.JID)
	require.Equal(t, wamedia.Image, m.Type)
	require.Equal(t, "imageMessage", m.Kind)
	require.Equal(t, "image/png", m.Mimetype)
	require.Equal(t, "image/jpeg", m.DeclaredMimetype)
	require.Equal(t, catalog.StatusSuccess, m.Status)
	require.Equal(t, "1/aa/bb/x.jpg", m.FilePath)
	require.Equal(t, int64(10), *m.FileSize)
	require.Equal(t, sha("x"), m.SHA256)
	require.Equal(t, 1280, m.Width)
	require.Equal(t, "a photo", m.Caption)
	require.True(t, m.HasThumbnail)
	require.NotNil(t, m.DownloadTimestamp)
	require.Equal(t, time.Unix(1748896286, 0).UTC(), m.MessageTimestamp.UTC())

	thumb, err := b.store.MediaThumbnail(b.ctx, b.clienteID, id)
	require.NoError(t, err)
	require.Equal(t, img.Thumbnail, thumb)

	// Another cliente's id is not found, exactly as a missing one.
	_, err = b.store.MediaByID(b.ctx, other.ClienteID, id)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = b.store.MediaThumbnail(b.ctx, other.ClienteID, id)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = b.store.MediaByID(b.ctx, b.clienteID, id+1)
	require.ErrorIs(t, err, catalog.ErrNotFound)

	noThumb := descriptor(wamedia.Document)
	noThumb.Thumbnail = nil
	id2 := b.recordOne(t, noThumb)
	_, err = b.store.MediaThumbnail(b.ctx, b.clienteID, id2)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	m, err = b.store.MediaByID(b.ctx, b.clienteID, id2)
	require.NoError(t, err)
	require.Nil(t, m.FileSize)
	require.Empty(t, m.FilePath)
	require.False(t, m.HasThumbnail)
}
