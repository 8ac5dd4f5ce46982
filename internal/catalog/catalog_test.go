package catalog_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

type testBundle struct {
	ctx   context.Context
	store *catalog.Store
	op    *catalog.Operator // over store
	url   string
	// A cliente with one instance, ready for RecordMessages.
	clienteID int64
	instance  string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	store, url := pgtest.NewStore(t)
	op := operator.New(store)
	res, err := op.Register(ctx, "acme", "3B6XIW-ZTS923-GEAY6V", "wapi-token")
	require.NoError(t, err)
	return &testBundle{ctx: ctx, store: store, op: op, url: url, clienteID: res.ClienteID, instance: res.InstanceID}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// descriptor returns a complete, downloadable descriptor of type typ, as the
// W-API provider builds it.
func descriptor(typ wamedia.MediaType) wamedia.Descriptor {
	kind := map[wamedia.MediaType]string{
		wamedia.Image: "imageMessage", wamedia.Video: "videoMessage", wamedia.Audio: "audioMessage",
		wamedia.Document: "documentMessage", wamedia.Sticker: "stickerMessage",
	}[typ]
	mimetype := map[wamedia.MediaType]string{
		wamedia.Image: "image/jpeg", wamedia.Video: "video/mp4", wamedia.Audio: "audio/ogg; codecs=opus",
		wamedia.Document: "application/pdf", wamedia.Sticker: "image/webp",
	}[typ]
	path := "/v/t62.7118-24/" + hex.EncodeToString(randomBytes(8)) + "_n.enc?ccb=11-4&oh=01_Q5Aa&oe=68A1B2C3"
	d := wamedia.Descriptor{
		Type:              typ,
		Kind:              kind,
		Class:             wamedia.ClassOf(typ),
		Mimetype:          mimetype,
		URL:               "https://mmg.whatsapp.net" + path + "&mms3=true",
		DirectPath:        path,
		MediaKey:          randomBytes(32),
		FileSHA256:        randomBytes(32),
		FileEncSHA256:     randomBytes(32),
		MediaKeyTimestamp: 1749253008,
		FileLength:        7104,
		Thumbnail:         randomBytes(600),
	}
	switch typ {
	case wamedia.Image:
		d.Caption, d.Width, d.Height = "a photo", 1280, 960
	case wamedia.Video:
		d.Seconds, d.Width, d.Height, d.GIF = 12, 720, 1280, true
	case wamedia.Audio:
		d.Seconds, d.PTT = 2, true
	case wamedia.Document:
		d.FileName, d.Title, d.PageCount, d.Caption = "report.pdf", "Report", 3, "see attached"
	case wamedia.Sticker:
		d.Width, d.Height, d.Animated = 512, 512, true
	}
	d.Check()
	return d
}

// message returns a message event of the bundle's instance with the given
// media.
func (b *testBundle) message(media ...wamedia.Descriptor) catalog.Message {
	return catalog.Message{
		InstanceID:   b.instance,
		MessageID:    "3EB0" + strings.ToUpper(hex.EncodeToString(randomBytes(8))),
		Event:        "webhookReceived",
		ChatRemoteID: "5511911112222",
		ChatJID:      "5511911112222@s.whatsapp.net",
		SenderID:     "5511911112222",
		SenderName:   "Maria",
		Moment:       time.Unix(1748896286, 0),
		Media:        media,
	}
}

// record stores msgs and returns the results, failing the test on error.
func (b *testBundle) record(t *testing.T, msgs ...catalog.Message) []catalog.Recorded {
	t.Helper()
	rec, err := b.store.RecordMessages(b.ctx, msgs)
	require.NoError(t, err)
	return rec
}

// recordOne stores one message with one item and returns its row id.
func (b *testBundle) recordOne(t *testing.T, d wamedia.Descriptor) int64 {
	t.Helper()
	rec := b.record(t, b.message(d))
	require.Len(t, rec, 1)
	require.True(t, rec[0].Inserted)
	return rec[0].MediaID
}

func (b *testBundle) status(t *testing.T, id int64) (status, reason string) {
	t.Helper()
	var r *string
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx,
		`SELECT download_status, failure_reason FROM media_files WHERE id = $1`, id).Scan(&status, &r))
	if r != nil {
		reason = *r
	}
	return status, reason
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
