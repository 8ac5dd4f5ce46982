package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/multichat/mediapipe/internal/admin"
	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/catalogtest"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/s3test"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

const adminToken = "test-admin-token-0123456789abcdef"

// wapiToken is an instance's W-API token: a secret the page must never show.
const wapiToken = "wapi-secret-never-shown"

type tenant struct {
	id       int64
	name     string
	instance string
}

type testBundle struct {
	ctx   context.Context
	store *catalog.Store
	blobs blob.Store // the media store: a directory, or a versitygw bucket
	js    jetstream.JetStream
	srv   *httptest.Server
	acme  tenant
	globx tenant
	// mediaKeys are the media keys of every seeded row, to check that the
	// page never shows one.
	mediaKeys [][]byte
}

type setupOptions struct {
	token string // empty: adminToken
	noJS  bool
	again bool // a second bundle in the same test
	s3    bool // the media store is an S3 bucket (versitygw), not a directory
}

func setup(t *testing.T, opts ...setupOptions) *testBundle {
	t.Helper()
	var o setupOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if !o.again {
		t.Parallel()
	}
	if o.token == "" {
		o.token = adminToken
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	store, _ := pgtest.NewStore(t)
	b := &testBundle{ctx: ctx, store: store}
	var err error
	if o.s3 {
		srv := s3test.Start(t)
		b.blobs, err = blob.NewS3(ctx, blob.S3Options{Bucket: srv.Bucket, Prefix: "admin", Endpoint: srv.Endpoint,
			Region: s3test.Region, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	} else {
		b.blobs, err = blob.NewLocal(t.TempDir())
	}
	require.NoError(t, err)
	if !o.noJS {
		url, _ := natstest.Start(t)
		_, b.js = natstest.Connect(t, url)
		require.NoError(t, bus.Setup(ctx, b.js, bus.Topology{}))
	}
	for _, tn := range []struct {
		t              *tenant
		name, instance string
	}{{&b.acme, "acme", "ACME-1"}, {&b.globx, "globex", "GLOBEX-1"}} {
		res, err := operator.New(store).Register(ctx, tn.name, tn.instance, wapiToken)
		require.NoError(t, err)
		*tn.t = tenant{id: res.ClienteID, name: tn.name, instance: res.InstanceID}
	}
	ao := admin.Options{Store: store, Blobs: b.blobs, Token: o.token, Log: zaptest.NewLogger(t)}
	if b.js != nil {
		ao.JS = b.js
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", admin.New(ao))
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

// thumbnail returns a small real JPEG of a colour gradient.
func thumbnail(t testing.TB, c color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(int(c.R) * (64 + x) / 128), uint8(int(c.G) * (48 + y) / 96), c.B, 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}))
	return buf.Bytes()
}

var typeColours = map[wamedia.MediaType]color.RGBA{
	wamedia.Image: {130, 80, 223, 255}, wamedia.Video: {191, 57, 137, 255}, wamedia.Audio: {27, 124, 131, 255},
	wamedia.Document: {154, 103, 0, 255}, wamedia.Sticker: {5, 80, 174, 255},
}

// descriptor returns a complete, downloadable descriptor of type typ, with
// a real thumbnail and its own declared length, and remembers its media key.
func (b *testBundle) descriptor(t testing.TB, typ wamedia.MediaType) wamedia.Descriptor {
	d := catalogtest.Descriptor(typ)
	b.mediaKeys = append(b.mediaKeys, d.MediaKey)
	d.FileLength += int64(len(b.mediaKeys)) * 1000
	if d.Thumbnail != nil {
		d.Thumbnail = thumbnail(t, typeColours[typ])
	}
	switch typ {
	case wamedia.Image:
		d.Caption = "a photo from the beach"
	case wamedia.Document:
		d.FileName = "quarterly report.pdf"
	}
	return d
}

// message returns a message of tenant tn, a minute old, with the given
// media.
func message(tn tenant, chat string, media ...wamedia.Descriptor) catalog.Message {
	m := catalogtest.Message(tn.instance, chat, media...)
	m.Moment = time.Now().Add(-time.Minute)
	return m
}

// record stores one message of tn with one item of type typ and returns
// its row id.
func (b *testBundle) record(t testing.TB, tn tenant, typ wamedia.MediaType, edit ...func(*catalog.Message)) int64 {
	t.Helper()
	m := message(tn, "5511933334444", b.descriptor(t, typ))
	for _, e := range edit {
		e(&m)
	}
	rec, err := b.store.RecordMessages(b.ctx, []catalog.Message{m})
	require.NoError(t, err)
	require.Len(t, rec, 1)
	return rec[0].MediaID
}

func (b *testBundle) succeed(t testing.TB, id int64) {
	t.Helper()
	sum := sha256.Sum256([]byte(t.Name()))
	require.NoError(t, b.store.Succeed(b.ctx, id, catalog.Stored{
		Path: "1/ab/cd/" + hex.EncodeToString(sum[:]) + ".jpg", Size: 123456, Mimetype: "image/jpeg", SHA256: sum[:],
	}))
}

// storeFile puts content in the media store as media row id's verified file
// of mimetype and ext, and marks the row a success.
func (b *testBundle) storeFile(t testing.TB, id int64, content []byte, mimetype, ext string) {
	t.Helper()
	var cliente int64
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT cliente_id FROM media_files WHERE id = $1`, id).Scan(&cliente))
	p, err := b.blobs.Create(cliente)
	require.NoError(t, err)
	_, err = p.Write(content)
	require.NoError(t, err)
	sum := sha256.Sum256(content)
	st, err := p.Commit(sum[:], ext)
	require.NoError(t, err)
	require.NoError(t, b.store.Succeed(b.ctx, id, catalog.Stored{Path: st.Path, Size: st.Size, Mimetype: mimetype, SHA256: sum[:]}))
}

func (b *testBundle) status(t testing.TB, id int64) (status, reason string) {
	t.Helper()
	var r *string
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx,
		`SELECT download_status, failure_reason FROM media_files WHERE id = $1`, id).Scan(&status, &r))
	if r != nil {
		reason = *r
	}
	return status, reason
}

// client is a browser-like HTTP client with a cookie jar that does not
// follow redirects, so that tests see them.
type client struct {
	t    testing.TB
	b    *testBundle
	http *http.Client
}

func (b *testBundle) client(t testing.TB) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{t: t, b: b, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

type response struct {
	*http.Response
	body string
}

func (c *client) do(req *http.Request) response {
	c.t.Helper()
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return response{resp, string(body)}
}

func (c *client) get(path string) response {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.b.ctx, http.MethodGet, c.b.srv.URL+path, nil)
	require.NoError(c.t, err)
	return c.do(req)
}

// post sends a form; header is name, value pairs.
func (c *client) post(path string, form url.Values, header ...string) response {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.b.ctx, http.MethodPost, c.b.srv.URL+path, strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

// login logs c in and returns the session's CSRF token, read from a page.
func (c *client) login() string {
	c.t.Helper()
	resp := c.post("/admin/login", url.Values{"token": {adminToken}, "next": {"/admin/media"}})
	require.Equal(c.t, http.StatusSeeOther, resp.StatusCode, resp.body)
	require.Equal(c.t, "/admin/media", resp.Header.Get("Location"))
	page := c.get("/admin/media")
	require.Equal(c.t, http.StatusOK, page.StatusCode, page.body)
	return csrfOf(c.t, page.body)
}

// csrfOf finds the CSRF token in a page's forms.
func csrfOf(t testing.TB, body string) string {
	t.Helper()
	const marker = `name="csrf" value="`
	i := strings.Index(body, marker)
	require.GreaterOrEqual(t, i, 0, "no CSRF field in the page")
	rest := body[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

// jobs reads every download job published so far.
func (b *testBundle) jobs(t testing.TB) []job.Download {
	t.Helper()
	stream, err := b.js.Stream(b.ctx, bus.StreamDownloads)
	require.NoError(t, err)
	info, err := stream.Info(b.ctx)
	require.NoError(t, err)
	var out []job.Download
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := stream.GetMsg(b.ctx, seq)
		require.NoError(t, err)
		d, err := job.Decode(msg.Data)
		require.NoError(t, err)
		out = append(out, d)
	}
	return out
}
