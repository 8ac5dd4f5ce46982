package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/api"
	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/catalogtest"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/s3test"
)

// tenant is a cliente of the test bundle.
type tenant struct {
	id        int64
	token     string
	instances []string
}

type testBundle struct {
	ctx   context.Context
	store *catalog.Store
	blobs blob.Store
	srv   *httptest.Server
	// a has two instances, b one.
	a, b tenant
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupOn(t, "file", 0)
}

// backends are the file stores the content routes are tested on.
var backends = []string{"file", "s3"}

// setupOn is setup with the files in a store of the backend ("file": a
// directory; "s3": a bucket of a versitygw) and the API presigning content
// URLs for presign when positive.
func setupOn(t *testing.T, backend string, presign time.Duration) *testBundle {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	store, _ := pgtest.NewStore(t)
	var blobs blob.Store
	var err error
	switch backend {
	case "file":
		blobs, err = blob.NewLocal(t.TempDir())
	case "s3":
		srv := s3test.Start(t)
		blobs, err = blob.NewS3(ctx, blob.S3Options{Bucket: srv.Bucket, Prefix: "api", Endpoint: srv.Endpoint,
			Region: s3test.Region, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	require.NoError(t, err)
	b := &testBundle{ctx: ctx, store: store, blobs: blobs}

	a1, err := operator.New(store).Register(ctx, "acme", "ACME-1", "wapi-secret-acme")
	require.NoError(t, err)
	a2, err := operator.New(store).Register(ctx, "acme", "ACME-2", "wapi-secret-acme")
	require.NoError(t, err)
	g, err := operator.New(store).Register(ctx, "globex", "GLOBEX-1", "wapi-secret-globex")
	require.NoError(t, err)
	b.a = tenant{id: a1.ClienteID, token: a1.APIToken, instances: []string{a1.InstanceID, a2.InstanceID}}
	b.b = tenant{id: g.ClienteID, token: g.APIToken, instances: []string{g.InstanceID}}

	b.srv = httptest.NewServer(api.New(api.Options{Store: store, Blobs: blobs, Presign: presign}))
	t.Cleanup(b.srv.Close)
	return b
}

// The media and messages the tests record, as W-API hands them over.
var (
	descriptor = catalogtest.Descriptor
	message    = catalogtest.Message
)

// record stores msgs in one batch and returns the row ids, in order.
func (b *testBundle) record(t *testing.T, msgs ...catalog.Message) []int64 {
	t.Helper()
	rec, err := b.store.RecordMessages(b.ctx, msgs)
	require.NoError(t, err)
	ids := make([]int64, len(rec))
	for i, r := range rec {
		require.True(t, r.Inserted)
		ids[i] = r.MediaID
	}
	return ids
}

// succeed stores content as row id's file, as the downloader does, and
// returns its path in the store.
func (b *testBundle) succeed(t *testing.T, cliente, id int64, content []byte, mimetype, ext string) string {
	t.Helper()
	p, err := b.blobs.Create(cliente)
	require.NoError(t, err)
	_, err = p.Write(content)
	require.NoError(t, err)
	sum := sha256.Sum256(content)
	st, err := p.Commit(sum[:], ext)
	require.NoError(t, err)
	require.NoError(t, b.store.Succeed(b.ctx, id, catalog.Stored{Path: st.Path, Size: st.Size, Mimetype: mimetype, SHA256: sum[:]}))
	return st.Path
}

// do sends a request to the API with token (none when empty) and returns
// the response with its body read.
func (b *testBundle) do(t *testing.T, method, token, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, method, b.srv.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	checkContract(t, req, resp, body)
	return resp, body
}

func (b *testBundle) get(t *testing.T, token, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return b.do(t, http.MethodGet, token, path, header...)
}

// item is the JSON of one media item, as a client decodes it.
type item struct {
	ID         int64  `json:"id"`
	InstanceID string `json:"instance_id"`
	Chat       *struct {
		ID       int64   `json:"id"`
		RemoteID string  `json:"remote_id"`
		JID      *string `json:"jid"`
		Name     *string `json:"name"`
	} `json:"chat"`
	MessageID         string     `json:"message_id"`
	MessageKind       *string    `json:"message_kind"`
	MediaType         string     `json:"media_type"`
	Mimetype          *string    `json:"mimetype"`
	DeclaredMimetype  *string    `json:"declared_mimetype"`
	FileName          *string    `json:"file_name"`
	FileSize          *int64     `json:"file_size"`
	Caption           *string    `json:"caption"`
	Width             *int       `json:"width"`
	Height            *int       `json:"height"`
	DurationSeconds   *int       `json:"duration_seconds"`
	IsPTT             bool       `json:"is_ptt"`
	IsAnimated        bool       `json:"is_animated"`
	DownloadStatus    string     `json:"download_status"`
	FailureReason     *string    `json:"failure_reason"`
	Attempts          int        `json:"attempts"`
	NextAttemptAt     *time.Time `json:"next_attempt_at"`
	LastReason        *string    `json:"last_reason"`
	SHA256            *string    `json:"sha256"`
	SenderID          *string    `json:"sender_id"`
	SenderName        *string    `json:"sender_name"`
	FromMe            bool       `json:"from_me"`
	IsGroup           bool       `json:"is_group"`
	MessageTimestamp  *time.Time `json:"message_timestamp"`
	DownloadTimestamp *time.Time `json:"download_timestamp"`
	FileDeletedAt     *time.Time `json:"file_deleted_at"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	ContentURL        *string    `json:"content_url"`
	ThumbnailURL      *string    `json:"thumbnail_url"`
}

type list struct {
	Items      []item  `json:"items"`
	NextCursor *string `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
}

// list fetches one page of GET /v1/media?query, requiring a 200.
func (b *testBundle) list(t *testing.T, token, query string) list {
	t.Helper()
	resp, body := b.get(t, token, "/v1/media?"+query)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var l list
	require.NoError(t, json.Unmarshal(body, &l))
	return l
}

func ids(items []item) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// requireError checks a JSON error answer and returns its message.
func requireError(t *testing.T, resp *http.Response, body []byte, code int) string {
	t.Helper()
	return decodeError(t, resp, body, code).Message
}

// requireErrorCode checks a JSON error answer and returns its code.
func requireErrorCode(t *testing.T, resp *http.Response, body []byte, code int) string {
	t.Helper()
	return decodeError(t, resp, body, code).Code
}

// errorCodes are the error codes each status may carry.
var errorCodes = map[int][]string{
	http.StatusBadRequest:                   {"invalid_parameter"},
	http.StatusUnauthorized:                 {"unauthorized"},
	http.StatusNotFound:                     {"not_found", "no_file"},
	http.StatusMethodNotAllowed:             {"method_not_allowed"},
	http.StatusGone:                         {"gone"},
	http.StatusPreconditionFailed:           {"precondition_failed"},
	http.StatusRequestedRangeNotSatisfiable: {"range_not_satisfiable"},
	http.StatusTooManyRequests:              {"rate_limited"},
	http.StatusInternalServerError:          {"internal"},
}

// apiError is the "error" object of an error answer.
type apiError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
}

func decodeError(t *testing.T, resp *http.Response, body []byte, code int) apiError {
	t.Helper()
	require.Equal(t, code, resp.StatusCode, string(body))
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	var e struct {
		Error apiError `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	require.Contains(t, errorCodes[code], e.Error.Code, "the code of a %d", code)
	require.NotEmpty(t, e.Error.Message)
	require.Equal(t, e.Error.Code == "invalid_parameter", e.Error.Param != nil, "param is set for invalid_parameter only")
	return e.Error
}
