package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

const (
	chatA     = "5511911112222" // a one-to-one chat; globex has a chat with the same remote id
	groupA    = "120363000000000001@g.us"
	jpegBytes = "\xff\xd8\xff\xe0 not really a jpeg, but stored as one"
)

// fixture is a catalogue with media of both clientes.
type fixture struct {
	*testBundle
	// acme: an image stored, a video pending, an audio failed and a
	// document stored in chatA of its first instance; a sticker pending in
	// groupA of its second; an image expired without a chat.
	image, video, audio, document, sticker, expired int64
	imageDesc, audioDesc, documentDesc              wamedia.Descriptor
	imageContent, documentContent                   []byte
	acme                                            []int64
	// globex: an image stored and a video pending in its chatA.
	globexImage, globexVideo int64
	globex                   []int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, "file", 0)
}

// newFixtureOn is newFixture on a backend (see setupOn).
func newFixtureOn(t *testing.T, backend string, presign time.Duration) *fixture {
	t.Helper()
	f := &fixture{testBundle: setupOn(t, backend, presign)}
	a1, a2, g1 := f.a.instances[0], f.a.instances[1], f.b.instances[0]
	f.imageDesc, f.audioDesc, f.documentDesc = descriptor(wamedia.Image), descriptor(wamedia.Audio), descriptor(wamedia.Document)
	f.documentDesc.FileName = "../../etc/passwd.pdf" // a path, as a hostile sender may name it
	ids := f.record(t,
		message(a1, chatA, f.imageDesc),
		message(a1, chatA, descriptor(wamedia.Video)),
		message(a1, chatA, f.audioDesc),
		message(a1, chatA, f.documentDesc),
		message(a2, groupA, descriptor(wamedia.Sticker)),
		message(a1, "", descriptor(wamedia.Image)),
	)
	f.image, f.video, f.audio, f.document, f.sticker, f.expired = ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]
	f.acme = ids
	f.imageContent = []byte(jpegBytes + strings.Repeat("x", 1000))
	f.documentContent = []byte("%PDF-1.7\n" + strings.Repeat("d", 5000))
	f.succeed(t, f.a.id, f.image, f.imageContent, "image/jpeg", ".jpg")
	f.succeed(t, f.a.id, f.document, f.documentContent, "application/pdf", ".pdf")
	require.NoError(t, f.store.Fail(f.ctx, f.audio, catalog.StatusFailed, "mac_mismatch"))
	require.NoError(t, f.store.Fail(f.ctx, f.expired, catalog.StatusExpired, "expired"))
	// The video's download failed once and waits for its retry.
	_, _, err := f.store.StartDownload(f.ctx, f.video)
	require.NoError(t, err)
	require.NoError(t, f.store.RecordRetry(f.ctx, f.video, catalog.Retry{
		Next: time.Now().Add(time.Hour), Reason: "http_error", Best: "http_error"}))

	gids := f.record(t, message(g1, chatA, descriptor(wamedia.Image)), message(g1, chatA, descriptor(wamedia.Video)))
	f.globexImage, f.globexVideo = gids[0], gids[1]
	f.globex = gids
	f.succeed(t, f.b.id, f.globexImage, []byte(jpegBytes+"globex"), "image/jpeg", ".jpg")
	return f
}

func sorted(s []int64) []int64 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestListFilters(t *testing.T) {
	f := newFixture(t)
	a := f.a.token
	listIDs := func(query string) []int64 {
		t.Helper()
		l := f.list(t, a, query)
		require.Nil(t, l.NextCursor)
		return sorted(ids(l.Items))
	}

	all := f.list(t, a, "")
	require.ElementsMatch(t, f.acme, ids(all.Items), "every acme row and no globex row")
	require.Nil(t, all.NextCursor)
	for i := 1; i < len(all.Items); i++ { // newest first
		prev, cur := all.Items[i-1], all.Items[i]
		require.True(t, prev.CreatedAt.After(cur.CreatedAt) || prev.CreatedAt.Equal(cur.CreatedAt) && prev.ID > cur.ID)
	}
	require.ElementsMatch(t, f.globex, ids(f.list(t, f.b.token, "").Items))

	require.Equal(t, []int64{f.sticker}, listIDs("instance="+f.a.instances[1]))
	require.Equal(t, sorted([]int64{f.image, f.video, f.audio, f.document, f.expired}), listIDs("instance="+f.a.instances[0]))
	require.Empty(t, listIDs("instance="+f.b.instances[0]), "another cliente's instance names nothing")
	require.Empty(t, listIDs("instance=NOBODY"))

	inChat := sorted([]int64{f.image, f.video, f.audio, f.document})
	require.Equal(t, inChat, listIDs("chat="+chatA), "by remote id: acme's chat only, not globex's chat of the same id")
	require.Equal(t, inChat, listIDs("chat="+url.QueryEscape(chatA+"@s.whatsapp.net")), "by JID")
	chatID := f.list(t, a, "type=video").Items[0].Chat.ID
	require.Equal(t, inChat, listIDs("chat="+strconv.FormatInt(chatID, 10)), "by chat id")
	require.Equal(t, []int64{f.sticker}, listIDs("chat="+url.QueryEscape(groupA)))
	require.Equal(t, inChat, listIDs("chat="+chatA+"&instance="+f.a.instances[0]))
	require.Empty(t, listIDs("chat="+chatA+"&instance="+f.a.instances[1]))
	globexChat := f.list(t, f.b.token, "").Items[0].Chat.ID
	require.NotEqual(t, chatID, globexChat)
	require.Empty(t, listIDs("chat="+strconv.FormatInt(globexChat, 10)), "another cliente's chat id names nothing")
	require.Empty(t, listIDs("chat=nobody"))

	require.Equal(t, sorted([]int64{f.image, f.expired}), listIDs("type=image"))
	require.Equal(t, []int64{f.audio}, listIDs("type=audio"))
	require.Equal(t, sorted([]int64{f.image, f.document}), listIDs("status=success"))
	require.Equal(t, []int64{f.audio}, listIDs("status=failed"))
	require.Equal(t, []int64{f.expired}, listIDs("status=expired"))
	require.Equal(t, sorted([]int64{f.video, f.sticker}), listIDs("status=pending"))
	require.Empty(t, listIDs("status=downloading"))
	require.Len(t, listIDs("provider=wapi"), 6, "every fixture row is a W-API instance's")
	require.Empty(t, listIDs("provider=meta"))
	require.Equal(t, []int64{f.image}, listIDs("type=image&status=success&instance="+f.a.instances[0]+"&chat="+chatA))

	for query, want := range map[string][2]string{
		"type=ptt":                   {"type", `type "ptt"`},
		"status=done":                {"status", `status "done"`},
		"provider=telegram":          {"provider", `unknown provider "telegram"`},
		"limit=0":                    {"limit", "limit"},
		"limit=501":                  {"limit", "limit"},
		"limit=ten":                  {"limit", "limit"},
		"since=yesterday":            {"since", "since"},
		"until=2025-13-01T00:00:00Z": {"until", "until"},
		"updated_since=now":          {"updated_since", "updated_since"},
		"since=2025-06-02T00:00:00Z&until=2025-06-01T00:00:00Z": {"until", "until must be after since"},
		"cursor=garbage":                    {"cursor", "cursor"},
		"cursor=" + strings.Repeat("A", 23): {"cursor", "cursor"},
		"instance=bad%2Fid":                 {"instance", "invalid instance id"},
		"chat=" + strings.Repeat("c", 300):  {"chat", "chat"},
		"instance_id=ACME-1":                {"instance_id", `unknown parameter "instance_id"`},
		"type=image&type=video":             {"type", `"type" given 2 times`},
	} {
		resp, body := f.get(t, a, "/v1/media?"+query)
		e := decodeError(t, resp, body, http.StatusBadRequest)
		require.Equal(t, "invalid_parameter", e.Code, query)
		require.Contains(t, e.Message, want[1], query)
		require.NotNil(t, e.Param, query)
		require.Equal(t, want[0], *e.Param, query)
	}
}

func TestListTime(t *testing.T) {
	b := setup(t)
	inst := b.a.instances[0]
	var batches [3][]int64
	for i := range batches {
		batches[i] = b.record(t, message(inst, chatA, descriptor(wamedia.Image)), message(inst, chatA, descriptor(wamedia.Video)))
	}
	created := map[int64]time.Time{}
	for _, it := range b.list(t, b.a.token, "").Items {
		created[it.ID] = it.CreatedAt
	}
	t1, t2, t3 := created[batches[0][0]], created[batches[1][0]], created[batches[2][0]]
	require.True(t, t1.Before(t2) && t2.Before(t3), "each batch is its own transaction")
	q := func(s ...string) []int64 {
		v := url.Values{}
		for i := 0; i < len(s); i += 2 {
			v.Set(s[i], s[i+1])
		}
		return sorted(ids(b.list(t, b.a.token, v.Encode()).Items))
	}
	ts := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	require.Equal(t, sorted(batches[1]), q("since", ts(t2), "until", ts(t3)), "since is inclusive, until exclusive")
	require.Equal(t, sorted(append(batches[1], batches[2]...)), q("since", ts(t2)))
	require.Equal(t, sorted(batches[0]), q("until", ts(t2)))
	require.Empty(t, q("since", ts(t3.Add(time.Microsecond))))
	// Any offset is accepted.
	require.Equal(t, sorted(batches[2]), q("since", t3.In(time.FixedZone("BRT", -3*3600)).Format(time.RFC3339Nano)))
}

// TestPagination walks 120 rows, 50 at a time, while rows are being added:
// every row that existed when the walk began comes exactly once, in order.
func TestPagination(t *testing.T) {
	b := setup(t)
	inst := b.a.instances[0]
	var want []int64
	// One batch of 60 shares one created_at: the id breaks the ties.
	msgs := make([]catalog.Message, 60)
	for i := range msgs {
		msgs[i] = message(inst, chatA, descriptor(wamedia.Image))
	}
	want = append(want, b.record(t, msgs...)...)
	for range 60 {
		want = append(want, b.record(t, message(inst, chatA, descriptor(wamedia.Video)))...)
	}
	b.record(t, message(b.b.instances[0], chatA, descriptor(wamedia.Image)))

	var (
		seen   []int64
		cursor string
		pages  []int
		added  []int64
	)
	for {
		q := "limit=50"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		l := b.list(t, b.a.token, q)
		pages = append(pages, len(l.Items))
		seen = append(seen, ids(l.Items)...)
		if l.NextCursor == nil {
			break
		}
		cursor = *l.NextCursor
		// New rows arrive between pages; they are newer than the cursor.
		added = append(added, b.record(t, message(inst, chatA, descriptor(wamedia.Audio)))...)
	}
	require.Equal(t, []int{50, 50, 20}, pages)
	require.Len(t, seen, 120)
	require.Equal(t, sorted(want), sorted(seen), "no duplicates, no gaps")
	for _, id := range added {
		require.NotContains(t, seen, id)
	}
	// Newest first: the single-row batches, then the big batch (one
	// created_at) by id; ids grow with time here, so that is id order.
	expected := sorted(want)
	slices.Reverse(expected)
	require.Equal(t, expected, seen)

	// The same walk with a filter.
	l := b.list(t, b.a.token, "type=image&limit=50")
	require.Len(t, l.Items, 50)
	require.NotNil(t, l.NextCursor)
	l2 := b.list(t, b.a.token, "type=image&limit=50&cursor="+*l.NextCursor)
	require.Len(t, l2.Items, 10)
	require.Nil(t, l2.NextCursor)

	// Limits: default 50, up to 500.
	require.Len(t, b.list(t, b.a.token, "").Items, 50)
	require.Len(t, b.list(t, b.a.token, "limit=500").Items, 120+len(added))
}

func TestGetMedia(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d", f.image))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	var it item
	require.NoError(t, json.Unmarshal(body, &it))
	require.Equal(t, f.image, it.ID)
	require.Equal(t, f.a.instances[0], it.InstanceID)
	require.NotNil(t, it.Chat)
	require.Equal(t, chatA, it.Chat.RemoteID)
	require.Equal(t, chatA+"@s.whatsapp.net", *it.Chat.JID)
	require.Equal(t, "Chat "+chatA, *it.Chat.Name)
	require.Equal(t, "imageMessage", *it.MessageKind)
	require.Equal(t, "image", it.MediaType)
	require.Equal(t, "image/jpeg", *it.Mimetype)
	require.Equal(t, "image/jpeg", *it.DeclaredMimetype)
	require.Equal(t, int64(len(f.imageContent)), *it.FileSize)
	require.Equal(t, "a photo", *it.Caption)
	require.Equal(t, 1280, *it.Width)
	require.Equal(t, 960, *it.Height)
	require.Nil(t, it.DurationSeconds)
	require.Equal(t, "success", it.DownloadStatus)
	require.Nil(t, it.FailureReason)
	require.Equal(t, "Maria", *it.SenderName)
	require.Equal(t, "5511911112222", *it.SenderID)
	require.Equal(t, time.Unix(1748896286, 0).UTC(), *it.MessageTimestamp)
	require.NotNil(t, it.DownloadTimestamp)
	require.Equal(t, fmt.Sprintf("/v1/media/%d/content", f.image), *it.ContentURL)
	require.Equal(t, fmt.Sprintf("/v1/media/%d/thumbnail", f.image), *it.ThumbnailURL)
	sum := hexSHA(f.imageContent)
	require.Equal(t, sum, *it.SHA256)

	// No secret leaves: not the media key, the encrypted hash, the CDN
	// location, the file path nor the W-API token.
	raw := string(body)
	for _, secret := range []string{
		"media_key", "direct_path", "file_enc_sha256", "file_path", "wapi_token",
		hex.EncodeToString(f.imageDesc.MediaKey), hex.EncodeToString(f.imageDesc.FileEncSHA256), f.imageDesc.DirectPath,
	} {
		require.NotContains(t, raw, secret)
	}
	var fields map[string]any
	require.NoError(t, json.Unmarshal(body, &fields))
	require.NotContains(t, fields, "url")
	require.Equal(t, "wapi", fields["provider"])
	require.Equal(t, "sha256+hmac", fields["integrity"])

	// A failed audio: no content, no thumbnail, a reason.
	_, body = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d", f.audio))
	require.NoError(t, json.Unmarshal(body, &it))
	require.Equal(t, "failed", it.DownloadStatus)
	require.Equal(t, "mac_mismatch", *it.FailureReason)
	require.True(t, it.IsPTT)
	require.Equal(t, 2, *it.DurationSeconds)
	require.Nil(t, it.ContentURL)
	require.Nil(t, it.ThumbnailURL)
	require.Nil(t, it.FileSize)

	// A retrying video: pending, one attempt, when the next is due and why
	// the last failed.
	_, body = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d", f.video))
	it = item{}
	require.NoError(t, json.Unmarshal(body, &it))
	require.Equal(t, "pending", it.DownloadStatus)
	require.Nil(t, it.FailureReason)
	require.Equal(t, 1, it.Attempts)
	require.NotNil(t, it.NextAttemptAt)
	require.True(t, it.NextAttemptAt.After(time.Now()))
	require.Equal(t, "http_error", *it.LastReason)

	// No chat: null.
	_, body = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d", f.expired))
	it = item{}
	require.NoError(t, json.Unmarshal(body, &it))
	require.Nil(t, it.Chat)
	require.Equal(t, "expired", it.DownloadStatus)

	for _, bad := range []string{"0", "-1", "abc", "1.5", "99999999999999999999", strconv.FormatInt(f.image+1000, 10)} {
		resp, body := f.get(t, f.a.token, "/v1/media/"+bad)
		require.Equal(t, "media not found", requireError(t, resp, body, http.StatusNotFound), bad)
	}
}

func TestContent(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) { testContent(t, newFixtureOn(t, backend, 0)) })
	}
}

func testContent(t *testing.T, f *fixture) {
	path := fmt.Sprintf("/v1/media/%d/content", f.image)
	etag := `"` + hexSHA(f.imageContent) + `"`

	resp, body := f.get(t, f.a.token, path)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, f.imageContent, body)
	require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
	require.Equal(t, strconv.Itoa(len(f.imageContent)), resp.Header.Get("Content-Length"))
	require.Equal(t, etag, resp.Header.Get("ETag"))
	require.Equal(t, "bytes", resp.Header.Get("Accept-Ranges"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, `attachment; filename="`+hexSHA(f.imageContent)+`.jpg"`, resp.Header.Get("Content-Disposition"),
		"no name in the message: the SHA-256")
	require.NotEmpty(t, resp.Header.Get("Last-Modified"))

	resp, body = f.get(t, f.a.token, path, "Range", "bytes=10-19")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, f.imageContent[10:20], body)
	require.Equal(t, fmt.Sprintf("bytes 10-19/%d", len(f.imageContent)), resp.Header.Get("Content-Range"))
	require.Equal(t, "10", resp.Header.Get("Content-Length"))

	resp, body = f.get(t, f.a.token, path, "Range", "bytes=-5")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, f.imageContent[len(f.imageContent)-5:], body)

	resp, _ = f.get(t, f.a.token, path, "Range", fmt.Sprintf("bytes=%d-", len(f.imageContent)+10))
	require.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode)

	resp, body = f.get(t, f.a.token, path, "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, resp.StatusCode)
	require.Empty(t, body)
	require.Equal(t, etag, resp.Header.Get("ETag"))
	resp, body = f.get(t, f.a.token, path, "If-None-Match", `"0000"`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, f.imageContent, body)
	// If-Range with the current ETag honours the range.
	resp, body = f.get(t, f.a.token, path, "Range", "bytes=0-3", "If-Range", etag)
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, f.imageContent[:4], body)

	resp, body = f.do(t, http.MethodHead, f.a.token, path)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, body)
	require.Equal(t, strconv.Itoa(len(f.imageContent)), resp.Header.Get("Content-Length"))

	// The document's name from the webhook is a path: the download name is
	// its last element.
	resp, body = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d/content", f.document))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, f.documentContent, body)
	require.Equal(t, "application/pdf", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="passwd.pdf"`, resp.Header.Get("Content-Disposition"))
	_, body = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d", f.document))
	var it item
	require.NoError(t, json.Unmarshal(body, &it))
	require.Equal(t, "../../etc/passwd.pdf", *it.FileName, "the item reports the name as sent")

	// Rows without a stored file.
	for _, id := range []int64{f.video, f.audio, f.expired} {
		resp, body := f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d/content", id))
		e := decodeError(t, resp, body, http.StatusNotFound)
		require.Equal(t, "no_file", e.Code)
		require.Contains(t, e.Message, "no stored file")
	}
}

func TestContentFileGone(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			b := setupOn(t, backend, 0)
			id := b.record(t, message(b.a.instances[0], chatA, descriptor(wamedia.Image)))[0]
			rel := b.succeed(t, b.a.id, id, []byte(jpegBytes), "image/jpeg", ".jpg")
			require.NoError(t, b.blobs.Remove(rel))
			resp, body := b.get(t, b.a.token, fmt.Sprintf("/v1/media/%d/content", id))
			require.Equal(t, "no_file", requireErrorCode(t, resp, body, http.StatusNotFound))
		})
	}
}

// TestContentPresigned: with MEDIA_PRESIGN on S3, the content route answers
// the caller's own file with a 307 to a URL that serves it (whole and by
// Range) without credentials; authentication and scoping come first: no
// token is 401, another cliente's id 404, and neither sees a URL.
func TestContentPresigned(t *testing.T) {
	meets(t, "GET /v1/media/{id}/content 307")
	f := newFixtureOn(t, "s3", 5*time.Minute)
	noFollow := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	f.srv.Client().CheckRedirect = noFollow
	path := fmt.Sprintf("/v1/media/%d/content", f.image)
	resp, _ := f.get(t, f.a.token, path)
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	loc := resp.Header.Get("Location")
	require.Contains(t, loc, "X-Amz-Expires=300")

	plain := &http.Client{CheckRedirect: noFollow}
	fetchURL := func(u string, header ...string) (*http.Response, []byte) {
		req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, u, nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := plain.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, body
	}
	fetch := func(header ...string) (*http.Response, []byte) { return fetchURL(loc, header...) }
	resp, body := fetch()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, f.imageContent, body)
	require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="`+hexSHA(f.imageContent)+`.jpg"`, resp.Header.Get("Content-Disposition"),
		"the presigned answer names the file as the API does")
	// The document's sanitised name too.
	resp, _ = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d/content", f.document))
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	resp, body = fetchURL(resp.Header.Get("Location"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, f.documentContent, body)
	require.Equal(t, `attachment; filename="passwd.pdf"`, resp.Header.Get("Content-Disposition"))
	resp, body = fetch("Range", "bytes=10-19")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, f.imageContent[10:20], body)

	resp, body = f.get(t, "", path)
	requireError(t, resp, body, http.StatusUnauthorized)
	require.Empty(t, resp.Header.Get("Location"))
	resp, body = f.get(t, f.b.token, path)
	requireError(t, resp, body, http.StatusNotFound)
	require.Empty(t, resp.Header.Get("Location"))
	resp, body = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d/content", f.video))
	requireError(t, resp, body, http.StatusNotFound)
}

func TestContentTypeFallback(t *testing.T) {
	b := setup(t)
	id := b.record(t, message(b.a.instances[0], chatA, descriptor(wamedia.Document)))[0]
	// A mimetype that does not parse is served as bytes.
	b.succeed(t, b.a.id, id, []byte("<html><script>alert(1)</script>"), "text/html; charset", ".html")
	resp, _ := b.get(t, b.a.token, fmt.Sprintf("/v1/media/%d/content", id))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "sandbox")
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;"))
}

func TestThumbnail(t *testing.T) {
	f := newFixture(t)
	path := fmt.Sprintf("/v1/media/%d/thumbnail", f.image)
	resp, body := f.get(t, f.a.token, path)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, f.imageDesc.Thumbnail, body)
	require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
	require.Equal(t, strconv.Itoa(len(body)), resp.Header.Get("Content-Length"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	resp, _ = f.get(t, f.a.token, path, "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, resp.StatusCode)

	// A pending video has its thumbnail too; the audio has none.
	resp, _ = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d/thumbnail", f.video))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d/thumbnail", f.audio))
	require.Equal(t, "no thumbnail for this media", requireError(t, resp, body, http.StatusNotFound))
}

// TestIsolation: acme's token reaches none of globex's media by any route,
// and the answers are those of ids that do not exist.
func TestIsolation(t *testing.T) {
	f := newFixture(t)
	missing := max(slices.Max(f.acme), slices.Max(f.globex)) + 1
	notFound := map[string]string{}
	for _, route := range []string{"", "/content", "/thumbnail"} {
		resp, body := f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d%s", missing, route))
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		notFound[route] = string(body)
	}
	// Guessing: every id around globex's, with acme's token.
	for id := min(slices.Min(f.acme), slices.Min(f.globex)); id < missing; id++ {
		if slices.Contains(f.acme, id) {
			continue
		}
		require.Contains(t, f.globex, id)
		for _, route := range []string{"", "/content", "/thumbnail"} {
			resp, body := f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d%s", id, route))
			require.Equal(t, http.StatusNotFound, resp.StatusCode, "id %d%s", id, route)
			require.Equal(t, notFound[route], string(body), "id %d%s answers as a missing id", id, route)
		}
		// And globex reaches them.
		resp, _ := f.get(t, f.b.token, fmt.Sprintf("/v1/media/%d", id))
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	// The stored globex image is globex's.
	resp, _ := f.get(t, f.b.token, fmt.Sprintf("/v1/media/%d/content", f.globexImage))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body := f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d/content", f.globexImage))
	require.Equal(t, notFound["/content"], string(body))
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// And the other way round.
	for _, id := range f.acme {
		for _, route := range []string{"", "/content", "/thumbnail"} {
			resp, _ := f.get(t, f.b.token, fmt.Sprintf("/v1/media/%d%s", id, route))
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
		}
	}

	// Lists: no filter naming globex's instance or chat finds its rows.
	for _, q := range []string{
		"", "instance=" + f.b.instances[0], "chat=" + chatA, "type=image", "status=success", "status=pending",
		"instance=" + f.b.instances[0] + "&chat=" + chatA, "limit=500",
	} {
		for _, id := range ids(f.list(t, f.a.token, q).Items) {
			require.Contains(t, f.acme, id, q)
		}
	}
	// A cursor made from a globex row only positions acme's list.
	l := f.list(t, f.b.token, "limit=1")
	require.NotNil(t, l.NextCursor)
	for _, id := range ids(f.list(t, f.a.token, "cursor="+*l.NextCursor).Items) {
		require.Contains(t, f.acme, id)
	}
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
