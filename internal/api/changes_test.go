package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// feed follows GET /v1/media?updated_since=… as a client does: pages until
// has_more is false, keeping next_cursor for the next poll.
type feed struct {
	b      *testBundle
	token  string
	query  url.Values
	cursor string
}

func (p *feed) poll(t *testing.T) []item {
	t.Helper()
	var got []item
	for {
		q := url.Values{}
		for k, v := range p.query {
			q[k] = v
		}
		if p.cursor != "" {
			q.Set("cursor", p.cursor)
		}
		l := p.b.list(t, p.token, q.Encode())
		got = append(got, l.Items...)
		require.NotNil(t, l.NextCursor, "the change feed always hands a cursor")
		p.cursor = *l.NextCursor
		if !l.HasMore {
			return got
		}
	}
}

// pollFor polls until every id of want came (other transactions on the
// server may hold the feed back for a moment).
func (p *feed) pollFor(t *testing.T, want ...int64) []int64 {
	t.Helper()
	var got []int64
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = append(got, ids(p.poll(t))...)
		done := true
		for _, id := range want {
			done = done && slices.Contains(got, id)
		}
		if done {
			return got
		}
		require.True(t, time.Now().Before(deadline), "rows %v never came; got %v", want, got)
	}
}

// TestChangeFeed: updated_since starts the change feed; next_cursor follows
// it. A row that moves from pending to success comes again, a change
// committed late by a transaction that began early is not skipped, and
// another cliente's changes never come.
func TestChangeFeed(t *testing.T) {
	f := newFixture(t)
	start := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	p := &feed{b: f.testBundle, token: f.a.token, query: url.Values{"updated_since": {start}, "limit": {"2"}}}
	require.ElementsMatch(t, f.acme, p.pollFor(t, f.acme...), "every acme row once, no globex row")
	require.Empty(t, p.poll(t))

	// The video's download succeeds: it comes again, now a success.
	f.succeed(t, f.a.id, f.video, []byte("video bytes"), "video/mp4", ".mp4")
	require.Equal(t, []int64{f.video}, p.pollFor(t, f.video))
	l := f.list(t, f.a.token, "cursor="+url.QueryEscape(p.cursor))
	require.Empty(t, l.Items)
	require.False(t, l.HasMore)
	_, body := f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d", f.video))
	require.Contains(t, string(body), `"download_status":"success"`)

	// A transaction begins and changes the sticker; another changes the
	// audio and commits first. The audio waits for the sticker.
	db := pgtest.DB(t, f.store)
	tx, err := db.Begin(f.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(f.ctx) }()
	_, err = tx.Exec(f.ctx, `UPDATE media_files SET caption = 'late' WHERE id = $1`, f.sticker)
	require.NoError(t, err)
	_, err = db.Exec(f.ctx, `UPDATE media_files SET caption = 'early' WHERE id = $1`, f.audio)
	require.NoError(t, err)
	_, err = db.Exec(f.ctx, `UPDATE media_files SET caption = 'other' WHERE id = $1`, f.globexVideo)
	require.NoError(t, err)
	require.Empty(t, p.poll(t))
	require.NoError(t, tx.Commit(f.ctx))
	got := p.pollFor(t, f.sticker, f.audio)
	require.Equal(t, []int64{f.sticker, f.audio}, got, "in transaction order, though the sticker's updated_at is earlier")

	// The filters apply to the feed; since/until keep filtering created_at.
	typed := &feed{b: f.testBundle, token: f.a.token, query: url.Values{"updated_since": {start}, "type": {"image"}}}
	require.ElementsMatch(t, []int64{f.image, f.expired}, typed.pollFor(t, f.image, f.expired))
	// A created_at cursor does not position the feed.
	page := f.list(t, f.a.token, "limit=1")
	resp, body := f.get(t, f.a.token, "/v1/media?updated_since="+start+"&cursor="+*page.NextCursor)
	e := decodeError(t, resp, body, http.StatusBadRequest)
	require.Equal(t, "cursor", *e.Param)
	// A feed cursor made from globex's rows shows acme nothing of globex's.
	g := &feed{b: f.testBundle, token: f.b.token, query: url.Values{"updated_since": {start}}}
	g.pollFor(t, f.globex...)
	for _, id := range ids(f.list(t, f.a.token, "cursor="+url.QueryEscape(g.cursor)).Items) {
		require.Contains(t, f.acme, id)
	}
}

// TestContentGone: once cleanup deleted a file, the item says when, has no
// content_url, and the content route answers 410 gone; the thumbnail,
// kept with the row, is still served.
func TestContentGone(t *testing.T) {
	f := newFixture(t)
	m, err := f.store.MediaByID(f.ctx, f.a.id, f.image)
	require.NoError(t, err)
	op := operator.New(f.store)
	cutoff, err := op.CleanupCutoff(f.ctx, 0)
	require.NoError(t, err)
	marked, _, err := op.MarkFilesDeleted(f.ctx, cutoff, []catalog.FileRef{{ClienteID: f.a.id, Path: m.FilePath}})
	require.NoError(t, err)
	require.Equal(t, int64(1), marked)
	require.NoError(t, f.blobs.Remove(m.FilePath))

	resp, body := f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d/content", f.image))
	e := decodeError(t, resp, body, http.StatusGone)
	require.Equal(t, "gone", e.Code)
	require.Contains(t, e.Message, "cleanup")
	_, body = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d", f.image))
	var it item
	require.NoError(t, json.Unmarshal(body, &it))
	require.NotNil(t, it.FileDeletedAt)
	require.WithinDuration(t, time.Now(), *it.FileDeletedAt, time.Minute)
	require.Nil(t, it.ContentURL)
	require.Nil(t, it.FileSize)
	require.Equal(t, "success", it.DownloadStatus)
	require.True(t, it.UpdatedAt.After(it.CreatedAt))
	resp, _ = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d/thumbnail", f.image))
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Another cliente's deleted file is not found, as before.
	resp, body = f.get(t, f.b.token, fmt.Sprintf("/v1/media/%d/content", f.image))
	require.Equal(t, "not_found", requireErrorCode(t, resp, body, http.StatusNotFound))
}

// TestContentDisposition: the sender's file name, sanitised, names the
// download; RFC 5987 carries a name that is not plain ASCII.
func TestContentDisposition(t *testing.T) {
	b := setup(t)
	content := []byte("%PDF-1.7\n" + "a document")
	for name, want := range map[string]string{
		"relatório final.pdf":               `attachment; filename="relat_rio final.pdf"; filename*=UTF-8''relat%C3%B3rio%20final.pdf`,
		"Invoice 42.PDF":                    `attachment; filename="Invoice 42.PDF"`,
		`C:\Users\x\"quoted" name.pdf`:      `attachment; filename="quoted name.pdf"`,
		"evil\u202Efdp.exe":                 `attachment; filename="evilfdp.exe.pdf"`,
		"line\r\nbreak.pdf":                 `attachment; filename="linebreak.pdf"`,
		"invoice.html":                      `attachment; filename="invoice.html.pdf"`,
		"...":                               `attachment; filename="` + hexSHA(content) + `.pdf"`,
		"a:b|c?.pdf":                        `attachment; filename="a_b_c_.pdf"`,
		"  .hidden.pdf ":                    `attachment; filename="hidden.pdf"`,
		"100%.pdf":                          `attachment; filename="100_.pdf"; filename*=UTF-8''100%25.pdf`,
		"日本語":                               `attachment; filename="___.pdf"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.pdf`,
		string(make([]byte, 300)) + "x.pdf": `attachment; filename="x.pdf"`,
	} {
		d := descriptor(wamedia.Document)
		d.FileName = name
		id := b.record(t, message(b.a.instances[0], chatA, d))[0]
		b.succeed(t, b.a.id, id, content, "application/pdf", ".pdf")
		resp, body := b.get(t, b.a.token, fmt.Sprintf("/v1/media/%d/content", id))
		require.Equal(t, http.StatusOK, resp.StatusCode, name)
		require.Equal(t, content, body)
		require.Equal(t, want, resp.Header.Get("Content-Disposition"), "%q", name)
	}
	// A long name is cut, its extension kept.
	d := descriptor(wamedia.Document)
	d.FileName = string(slices.Repeat([]byte("n"), 400)) + ".pdf"
	id := b.record(t, message(b.a.instances[0], chatA, d))[0]
	b.succeed(t, b.a.id, id, content, "application/pdf", ".pdf")
	resp, _ := b.get(t, b.a.token, fmt.Sprintf("/v1/media/%d/content", id))
	cd := resp.Header.Get("Content-Disposition")
	require.Len(t, cd, len(`attachment; filename=""`)+150)
	require.Contains(t, cd, `n.pdf"`)
}
