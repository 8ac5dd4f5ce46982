package fetch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

const testToken = "wapi-secret-token-123"

var (
	testKey   = bytes.Repeat([]byte{7}, 32)
	plainFile = []byte("\xff\xd8\xff\xe0 pretend this is a decrypted jpeg")
)

// fakeWAPI stands in for W-API: answer writes the download-media answer; the
// fileLink path serves plainFile. It records what it was sent.
type fakeWAPI struct {
	*httptest.Server
	answer func(w http.ResponseWriter, base string)

	mu       sync.Mutex
	bodies   []map[string]any
	postAuth []string
	getAuth  []string
	query    []string
}

func newFakeWAPI(t *testing.T, answer func(w http.ResponseWriter, base string)) *fakeWAPI {
	fw := &fakeWAPI{answer: answer}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/message/download-media", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		fw.mu.Lock()
		fw.bodies = append(fw.bodies, body)
		fw.postAuth = append(fw.postAuth, r.Header.Get("Authorization"))
		fw.query = append(fw.query, r.URL.RawQuery)
		fw.mu.Unlock()
		fw.answer(w, fw.URL)
	})
	mux.HandleFunc("GET /media/file/", func(w http.ResponseWriter, r *http.Request) {
		fw.mu.Lock()
		fw.getAuth = append(fw.getAuth, r.Header.Get("Authorization"))
		fw.mu.Unlock()
		_, _ = w.Write(plainFile)
	})
	fw.Server = serve(t, mux)
	return fw
}

func (fw *fakeWAPI) fetcher(t *testing.T, mod ...func(*Options)) *Fetcher {
	return newFetcher(t, "https://mmg.whatsapp.net", append([]func(*Options){func(o *Options) { o.WAPIBase = fw.URL }}, mod...)...)
}

func jsonAnswer(status int, v any) func(http.ResponseWriter, string) {
	return func(w http.ResponseWriter, _ string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
}

func descriptor(typ wamedia.MediaType, kind string) *wamedia.Descriptor {
	return &wamedia.Descriptor{
		Type: typ, Kind: kind, Mimetype: "image/webp",
		DirectPath: "/v/t62.15575-24/123_456_n.enc?ccb=11-4&oh=01_x&oe=68A1B2C3",
		MediaKey:   testKey, FileSHA256: bytes.Repeat([]byte{1}, 32), Caption: "extra field", FileName: "a.webp",
	}
}

func TestFallbackFileLink(t *testing.T) {
	t.Parallel()
	fw := newFakeWAPI(t, func(w http.ResponseWriter, base string) {
		_, _ = io.WriteString(w, `{"error": false, "fileLink": "`+base+`/media/file/3f2a_image.jpeg", "expires": 1760000000000}`)
	})
	f := fw.fetcher(t)
	body, info, err := f.FallbackOpen(testCtx(t), "inst-1&x", testToken, descriptor(wamedia.Sticker, "stickerMessage"))
	require.NoError(t, err)
	got, err := io.ReadAll(body)
	require.NoError(t, err)
	require.NoError(t, body.Close())
	require.Equal(t, plainFile, got)
	require.Equal(t, fw.URL+"/media/file/3f2a_image.jpeg", info.URL)

	fw.mu.Lock()
	defer fw.mu.Unlock()
	require.Equal(t, []string{"instanceId=inst-1%26x"}, fw.query)
	require.Equal(t, []string{"Bearer " + testToken}, fw.postAuth)
	require.Equal(t, []string{"Bearer " + testToken}, fw.getAuth, "the fileLink needs the token too")
	require.Len(t, fw.bodies, 1)
	keys := make([]string, 0, 4)
	for k := range fw.bodies[0] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	require.Equal(t, []string{"directPath", "mediaKey", "mimetype", "type"}, keys, "only the four fields")
	require.Equal(t, base64.StdEncoding.EncodeToString(testKey), fw.bodies[0]["mediaKey"])
	require.Equal(t, descriptor(wamedia.Sticker, "").DirectPath, fw.bodies[0]["directPath"])
	require.Equal(t, "image", fw.bodies[0]["type"], "stickers go as image")
	require.Equal(t, "image/webp", fw.bodies[0]["mimetype"])
}

func TestFallbackTypes(t *testing.T) {
	t.Parallel()
	fw := newFakeWAPI(t, jsonAnswer(200, map[string]any{"error": false, "base64": base64.StdEncoding.EncodeToString(plainFile)}))
	f := fw.fetcher(t)
	cases := []struct {
		typ  wamedia.MediaType
		kind string
		want string
	}{
		{wamedia.Image, "imageMessage", "image"},
		{wamedia.Sticker, "stickerMessage", "image"},
		{wamedia.Video, "videoMessage", "video"},
		{wamedia.Video, "ptvMessage", "video"},
		{wamedia.Audio, "audioMessage", "audio"},
		{wamedia.Document, "documentMessage", "document"},
	}
	for _, tc := range cases {
		body, _, err := f.FallbackOpen(testCtx(t), "inst", testToken, descriptor(tc.typ, tc.kind))
		require.NoError(t, err)
		body.Close()
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	for i, tc := range cases {
		require.Equal(t, tc.want, fw.bodies[i]["type"], tc.kind)
	}
}

func TestFallbackInline(t *testing.T) {
	t.Parallel()
	std := base64.StdEncoding.EncodeToString(plainFile)
	for name, answer := range map[string]any{
		"base64":          map[string]any{"error": false, "base64": std},
		"fileBase64":      map[string]any{"fileBase64": std},
		"data":            map[string]any{"success": true, "data": std},
		"data URL":        map[string]any{"base64": "data:image/jpeg;base64," + std},
		"raw url-safe":    map[string]any{"base64": base64.RawURLEncoding.EncodeToString(plainFile)},
		"wrapped lines":   map[string]any{"base64": std[:10] + "\r\n" + std[10:]},
		"error as string": map[string]any{"error": "false", "base64": std},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fw := newFakeWAPI(t, jsonAnswer(200, answer))
			body, info, err := fw.fetcher(t).FallbackOpen(testCtx(t), "inst", testToken, descriptor(wamedia.Image, "imageMessage"))
			require.NoError(t, err)
			got, err := io.ReadAll(body)
			require.NoError(t, err)
			require.Equal(t, plainFile, got)
			require.EqualValues(t, len(plainFile), info.ContentLength)
			require.NotContains(t, info.URL, testToken)
		})
	}
}

func TestFallbackFailures(t *testing.T) {
	t.Parallel()
	for name, answer := range map[string]func(http.ResponseWriter, string){
		"error true":         jsonAnswer(200, map[string]any{"error": true, "errorMessage": "media not found"}),
		"error message":      jsonAnswer(200, map[string]any{"errorMessage": "instance disconnected"}),
		"error string":       jsonAnswer(200, map[string]any{"error": "Instance not found"}),
		"success false":      jsonAnswer(200, map[string]any{"success": false, "fileLink": "https://x.w-api.app/f"}),
		"no file":            jsonAnswer(200, map[string]any{"error": false}),
		"server error":       jsonAnswer(500, map[string]any{"error": true, "errorMessage": "boom"}),
		"unauthorized":       jsonAnswer(401, map[string]any{"error": true}),
		"not json":           func(w http.ResponseWriter, _ string) { _, _ = io.WriteString(w, "<html>") },
		"foreign fileLink":   jsonAnswer(200, map[string]any{"error": false, "fileLink": "https://evil.example/media/file/x"}),
		"http fileLink":      jsonAnswer(200, map[string]any{"error": false, "fileLink": "http://files.w-api.app/media/file/x"}),
		"fileLink 404":       func(w http.ResponseWriter, base string) { _, _ = io.WriteString(w, `{"fileLink":"`+base+`/gone"}`) },
		"undecodable base64": jsonAnswer(200, map[string]any{"base64": "!!!"}),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fw := newFakeWAPI(t, answer)
			_, _, err := fw.fetcher(t).FallbackOpen(testCtx(t), "inst", testToken, descriptor(wamedia.Image, "imageMessage"))
			requireKind(t, err, ErrFallbackFailed, "expired", false)
			require.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestFallbackRefusesBadInput(t *testing.T) {
	t.Parallel()
	fw := newFakeWAPI(t, jsonAnswer(200, map[string]any{"base64": "AAAA"}))
	f := fw.fetcher(t)
	noKey := descriptor(wamedia.Image, "")
	noKey.MediaKey = nil
	for name, call := range map[string]func() error{
		"no token": func() error {
			_, _, err := f.FallbackOpen(testCtx(t), "inst", "", descriptor(wamedia.Image, ""))
			return err
		},
		"no instance": func() error {
			_, _, err := f.FallbackOpen(testCtx(t), "", testToken, descriptor(wamedia.Image, ""))
			return err
		},
		"no key": func() error { _, _, err := f.FallbackOpen(testCtx(t), "inst", testToken, noKey); return err },
		"no W-API": func() error {
			_, _, err := newFetcher(t, "https://mmg.whatsapp.net").FallbackOpen(testCtx(t), "inst", testToken, descriptor(wamedia.Image, ""))
			return err
		},
	} {
		requireKind(t, call(), ErrFallbackFailed, "expired", false)
		_ = name
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	require.Empty(t, fw.bodies)
}

func TestFallbackInlineTooLarge(t *testing.T) {
	t.Parallel()
	fw := newFakeWAPI(t, jsonAnswer(200, map[string]any{"base64": base64.StdEncoding.EncodeToString(make([]byte, 4096))}))
	_, _, err := fw.fetcher(t, func(o *Options) { o.MaxBytes = 1024 }).
		FallbackOpen(testCtx(t), "inst", testToken, descriptor(wamedia.Image, ""))
	requireKind(t, err, ErrFallbackFailed, "expired", false)
	require.ErrorIs(t, err, ErrTooLarge)

	// Just under the JSON cap but over MaxBytes once decoded.
	fw = newFakeWAPI(t, jsonAnswer(200, map[string]any{"base64": base64.StdEncoding.EncodeToString(make([]byte, 1030))}))
	_, _, err = fw.fetcher(t, func(o *Options) { o.MaxBytes = 1024 }).
		FallbackOpen(testCtx(t), "inst", testToken, descriptor(wamedia.Image, ""))
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestFallbackTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	fw := newFakeWAPI(t, func(w http.ResponseWriter, _ string) { <-release })
	t.Cleanup(func() { close(release) })
	start := time.Now()
	_, _, err := fw.fetcher(t, func(o *Options) { o.FallbackTimeout = 200 * time.Millisecond }).
		FallbackOpen(testCtx(t), "inst", testToken, descriptor(wamedia.Audio, "audioMessage"))
	requireKind(t, err, ErrFallbackFailed, "expired", false)
	require.ErrorIs(t, err, ErrTimeout)
	require.Less(t, time.Since(start), 5*time.Second)
}
