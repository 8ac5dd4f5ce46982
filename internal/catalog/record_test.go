package catalog_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func TestRecordMessages_EveryType(t *testing.T) {
	b := setup(t)
	var msgs []catalog.Message
	want := map[int64]wamedia.Descriptor{}
	for _, typ := range wamedia.MediaTypes {
		msgs = append(msgs, b.message(descriptor(typ)))
	}
	ptv := descriptor(wamedia.Video)
	ptv.Kind, ptv.ViewOnce, ptv.Forwarded, ptv.Ephemeral = "ptvMessage", true, true, true
	msgs = append(msgs, b.message(ptv))
	msgs = append(msgs, catalog.Message{InstanceID: b.instance, MessageID: "TEXT-ONLY", Event: "webhookReceived"})

	rec := b.record(t, msgs...)
	require.Len(t, rec, len(wamedia.MediaTypes)+1, "one result per media item, none for the text message")
	for i, r := range rec {
		require.Equal(t, i, r.Msg)
		require.Equal(t, 0, r.Item)
		require.True(t, r.Inserted)
		require.False(t, r.UnknownInstance)
		require.NotZero(t, r.MediaID)
		require.Equal(t, b.clienteID, r.ClienteID)
		require.Equal(t, catalog.StatusPending, r.Status)
		require.Equal(t, msgs[i].Media[0].Type, r.Type)
		want[r.MediaID] = msgs[i].Media[0]
	}

	// The downloader's view of each row gives back the descriptor.
	for id, d := range want {
		job, err := b.store.LoadDownload(b.ctx, id)
		require.NoError(t, err)
		require.Equal(t, b.clienteID, job.ClienteID)
		require.Equal(t, b.instance, job.InstanceID)
		require.Equal(t, "wapi-token", job.WAPIToken)
		require.Equal(t, catalog.StatusPending, job.Status)
		d.Thumbnail = nil // not loaded for jobs
		require.Equal(t, d, job.Descriptor)
	}

	// Message-level fields and the chat.
	var (
		kind, sender, chatRemote, chatJID string
		moment                            time.Time
		thumbnail                         []byte
	)
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `
		SELECT m.message_kind, m.sender_name, m.message_timestamp, m.jpeg_thumbnail, c.remote_id, c.jid
		FROM media_files m JOIN chats c ON c.id = m.chat_id WHERE m.id = $1`, rec[5].MediaID).
		Scan(&kind, &sender, &moment, &thumbnail, &chatRemote, &chatJID))
	require.Equal(t, "ptvMessage", kind)
	require.Equal(t, "Maria", sender)
	require.True(t, moment.Equal(time.Unix(1748896286, 0)))
	require.Equal(t, ptv.Thumbnail, thumbnail)
	require.Equal(t, "5511911112222", chatRemote)
	require.Equal(t, "5511911112222@s.whatsapp.net", chatJID)
	var chats int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(*) FROM chats`).Scan(&chats))
	require.Equal(t, 1, chats)
}

func TestRecordMessages_Redelivery(t *testing.T) {
	b := setup(t)
	album := b.message(descriptor(wamedia.Image), descriptor(wamedia.Image))
	first := b.record(t, album)
	require.Len(t, first, 2)
	require.NotEqual(t, first[0].MediaID, first[1].MediaID)
	require.Equal(t, 1, first[1].Item)

	// The same webhook again, and twice in one batch: same rows, not inserted.
	again := b.record(t, album, b.message(descriptor(wamedia.Audio)), album)
	require.Len(t, again, 5)
	for _, r := range []catalog.Recorded{again[0], again[3]} {
		require.Equal(t, first[0].MediaID, r.MediaID)
		require.False(t, r.Inserted)
		require.Equal(t, catalog.StatusPending, r.Status)
	}
	require.Equal(t, first[1].MediaID, again[1].MediaID)
	require.Equal(t, first[1].MediaID, again[4].MediaID)
	require.True(t, again[2].Inserted)
	require.Equal(t, 2, again[4].Msg)
	require.Equal(t, 1, again[4].Item)

	var n int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(*) FROM media_files`).Scan(&n))
	require.Equal(t, 3, n)
}

func TestRecordMessages_MissingFields(t *testing.T) {
	b := setup(t)
	d := descriptor(wamedia.Document)
	d.MediaKey, d.DirectPath, d.URL = nil, "", ""
	d.Check()
	require.False(t, d.Downloadable)

	rec := b.record(t, b.message(d))
	require.Len(t, rec, 1)
	require.True(t, rec[0].Inserted)
	require.Equal(t, catalog.StatusFailed, rec[0].Status)
	status, reason := b.status(t, rec[0].MediaID)
	require.Equal(t, catalog.StatusFailed, status)
	require.Equal(t, catalog.ReasonMissingFields, reason)
}

func TestRecordMessages_UnknownInstance(t *testing.T) {
	b := setup(t)
	stranger := b.message(descriptor(wamedia.Image), descriptor(wamedia.Video))
	stranger.InstanceID = "NOBODY-1"
	rec := b.record(t, stranger, b.message(descriptor(wamedia.Sticker)))
	require.Len(t, rec, 3)
	for _, r := range rec[:2] {
		require.True(t, r.UnknownInstance)
		require.Zero(t, r.MediaID)
		require.False(t, r.Inserted)
	}
	require.False(t, rec[2].UnknownInstance)
	require.True(t, rec[2].Inserted)

	var n int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(*) FROM media_files`).Scan(&n))
	require.Equal(t, 1, n)
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(*) FROM chats WHERE instance_id = 'NOBODY-1'`).Scan(&n))
	require.Zero(t, n)
}

func TestRecordMessages_BadInput(t *testing.T) {
	b := setup(t)
	noID := b.message(descriptor(wamedia.Image))
	noID.MessageID = ""
	_, err := b.store.RecordMessages(b.ctx, []catalog.Message{noID})
	require.Error(t, err)

	badType := descriptor(wamedia.Image)
	badType.Type = "hologram"
	_, err = b.store.RecordMessages(b.ctx, []catalog.Message{b.message(badType)})
	require.Error(t, err)

	// Text PostgreSQL would refuse is cleaned instead of failing the batch.
	d := descriptor(wamedia.Document)
	d.FileName, d.Caption = "a\x00b.pdf", "bad \xff utf-8"
	m := b.message(d)
	m.SenderName = "nul\x00name"
	rec := b.record(t, m)
	require.True(t, rec[0].Inserted)
	var name, caption string
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT file_name, caption FROM media_files WHERE id = $1`, rec[0].MediaID).Scan(&name, &caption))
	require.Equal(t, "ab.pdf", name)
	require.Equal(t, "bad \uFFFD utf-8", caption)

	rec, err = b.store.RecordMessages(b.ctx, nil)
	require.NoError(t, err)
	require.Empty(t, rec)
}

func TestRecordMessages_ChatNames(t *testing.T) {
	b := setup(t)
	group := func(name string) catalog.Message {
		m := b.message(descriptor(wamedia.Image))
		m.ChatRemoteID, m.ChatJID, m.IsGroup, m.ChatName = "120363000000000000@g.us", "120363000000000000@g.us", true, name
		return m
	}
	chatName := func() string {
		var name *string
		require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT name FROM chats WHERE remote_id = '120363000000000000@g.us'`).Scan(&name))
		if name == nil {
			return "<null>"
		}
		return *name
	}
	b.record(t, group(""))
	require.Equal(t, "<null>", chatName())
	b.record(t, group("Family"), group(""))
	require.Equal(t, "Family", chatName())
	b.record(t, group(""))
	require.Equal(t, "Family", chatName(), "an empty name never erases one")
	b.record(t, group("Family 2"))
	require.Equal(t, "Family 2", chatName())

	var chatIDs int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(DISTINCT chat_id) FROM media_files`).Scan(&chatIDs))
	require.Equal(t, 1, chatIDs)
}

func TestRecordMessages_OneTransaction(t *testing.T) {
	b := setup(t)
	// Make the media insert, the batch's last statement, fail.
	_, err := pgtest.DB(t, b.store).Exec(b.ctx, `
		CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON media_files FOR EACH ROW EXECUTE FUNCTION refuse();`)
	require.NoError(t, err)
	m := b.message(descriptor(wamedia.Image))
	m.ChatRemoteID = "5511933334444"
	_, err = b.store.RecordMessages(b.ctx, []catalog.Message{m})
	require.ErrorContains(t, err, "refused")

	var chats int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(*) FROM chats`).Scan(&chats))
	require.Zero(t, chats, "the chat insert was rolled back with the media insert")
}

// Analyzers share a consumer: the same webhooks may reach several of them at
// once, in different orders, with chat names changing.
func TestRecordMessages_Concurrent(t *testing.T) {
	b := setup(t)
	var msgs []catalog.Message
	for i := range 60 {
		m := b.message(descriptor(wamedia.MediaTypes[i%len(wamedia.MediaTypes)]))
		m.ChatRemoteID = fmt.Sprintf("55119%08d", i%7)
		msgs = append(msgs, m)
	}
	var (
		wg       sync.WaitGroup
		inserted atomic.Int64
		ids      sync.Map // message id → media id
	)
	for w := range 6 {
		wg.Go(func() {
			batch := slices.Clone(msgs)
			if w%2 == 1 {
				slices.Reverse(batch)
			}
			for i := range batch {
				batch[i].ChatName = fmt.Sprintf("name %d", w)
			}
			rec, err := b.store.RecordMessages(b.ctx, batch)
			if !assert.NoError(t, err) {
				return
			}
			for _, r := range rec {
				if r.Inserted {
					inserted.Add(1)
				}
				prev, _ := ids.LoadOrStore(batch[r.Msg].MessageID, r.MediaID)
				assert.Equal(t, prev, r.MediaID)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(len(msgs)), inserted.Load(), "each item inserted exactly once")
	var rows, chats int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(*), count(DISTINCT chat_id) FROM media_files`).Scan(&rows, &chats))
	require.Equal(t, len(msgs), rows)
	require.Equal(t, 7, chats)
}
