package fetch

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var providerFile = []byte("\xff\xd8\xff\xe0 a plain file the provider already decrypted")

// readAll reads an opened body and closes it.
func readAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func TestWAHAOpenSendsTheKeyOnlyToTheRegisteredServer(t *testing.T) {
	t.Parallel()
	var gotKey string
	waha := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/files/default/3EB0.jpeg":
			gotKey = r.Header.Get("X-Api-Key")
			_, _ = w.Write(providerFile)
		case "/api/files/default/away":
			http.Redirect(w, r, "http://127.0.0.2:1/elsewhere", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	other := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a URL off the registered server was fetched: %s", r.URL)
	}))
	f := newFetcher(t, "https://mmg.whatsapp.net")
	srv := Server{Base: waha.URL + "/", APIKey: "waha-secret-key"}

	rc, info, err := f.WAHAOpen(testCtx(t), srv, waha.URL+"/api/files/default/3EB0.jpeg", 0)
	require.NoError(t, err)
	require.Equal(t, providerFile, readAll(t, rc))
	require.Equal(t, "waha-secret-key", gotKey)
	require.Equal(t, int64(len(providerFile)), info.ContentLength)

	_, _, err = f.WAHAOpen(testCtx(t), srv, other.URL+"/api/files/default/3EB0.jpeg", 0)
	requireKind(t, err, ErrForbiddenHost, "http_error", false)
	require.NotContains(t, err.Error(), "waha-secret-key")

	_, _, err = f.WAHAOpen(testCtx(t), srv, waha.URL+"/api/files/default/away", 0)
	requireKind(t, err, ErrForbiddenHost, "http_error", false)

	_, _, err = f.WAHAOpen(testCtx(t), srv, waha.URL+"/api/files/default/gone.jpeg", 0)
	requireKind(t, err, ErrExpired, "expired", false)

	// Only WAHA's file route: the API key must not reach another endpoint
	// (the legacy GET /api/sendText sends a message).
	for _, u := range []string{
		waha.URL + "/api/sendText?phone=5511911112222&text=hi&session=default",
		waha.URL + "/api/sessions",
		waha.URL + "/api/files/",
		waha.URL + "/api/files/../sessions",
		waha.URL + "/api/files/%2e%2e/sessions",
		waha.URL + "/api/files/default%2F..%2F..%2Fsessions",
		waha.URL + "/other/api/files/default/3EB0.jpeg",
	} {
		_, _, err = f.WAHAOpen(testCtx(t), srv, u, 0)
		requireKind(t, err, ErrForbiddenHost, "http_error", false)
	}
	// Under a base with a path, the file route is under it.
	_, _, err = f.WAHAOpen(testCtx(t), Server{Base: waha.URL + "/waha"}, waha.URL+"/api/files/default/3EB0.jpeg", 0)
	requireKind(t, err, ErrForbiddenHost, "http_error", false)

	_, _, err = f.WAHAOpen(testCtx(t), Server{}, waha.URL+"/api/files/default/3EB0.jpeg", 0)
	requireKind(t, err, ErrNoLocation, "missing_fields", false)
	_, _, err = f.WAHAOpen(testCtx(t), srv, "", 0)
	requireKind(t, err, ErrNoLocation, "missing_fields", false)
}

// TestServerTrustIsPerRequest checks that a registered server's private
// address is reachable only for that server's requests: the CDN path still
// refuses it.
func TestServerTrustIsPerRequest(t *testing.T) {
	t.Parallel()
	waha := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(providerFile) }))
	f := newFetcher(t, "https://mmg.whatsapp.net", func(o *Options) { o.AllowedHosts = []string{"localhost"} })
	_, err := f.dial.DialContext(testCtx(t), "tcp", strings.TrimPrefix(waha.URL, "http://"))
	require.Error(t, err, "an untrusted loopback dial must be refused")
	rc, _, err := f.WAHAOpen(testCtx(t), Server{Base: waha.URL}, waha.URL+"/api/files/default/f.jpeg", 0)
	require.NoError(t, err)
	require.Equal(t, providerFile, readAll(t, rc))
}

func TestZAPIOpenOnlyFromItsStorage(t *testing.T) {
	t.Parallel()
	storage := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Empty(t, r.Header.Get("Authorization"))
		_, _ = w.Write(providerFile)
	}))
	f := newFetcher(t, "https://mmg.whatsapp.net", func(o *Options) { o.ZAPIStorageBase = storage.URL })
	rc, _, err := f.ZAPIOpen(testCtx(t), storage.URL+"/instances/A20D/3EB0.jpeg", 0)
	require.NoError(t, err)
	require.Equal(t, providerFile, readAll(t, rc))

	for _, u := range []string{
		"http://storage.z-api.io/instances/A20D/3EB0.jpeg",       // not https
		"https://storage.z-api.io:8443/instances/A20D/3EB0.jpeg", // not 443
		"https://z-api.io.evil.example/x.jpeg",                   // not a subdomain
		"https://10.0.0.1/x.jpeg",                                // an address
	} {
		_, _, err := f.ZAPIOpen(testCtx(t), u, 0)
		requireKind(t, err, ErrForbiddenHost, "http_error", false)
	}
	u, err := url.Parse("https://storage.z-api.io/instances/A20D/3EB0.jpeg")
	require.NoError(t, err)
	require.NoError(t, f.zapi.permit(u), "the default allowlist takes Z-API's storage")
}

// graph is a fake Graph API: GET /v23.0/{id} names a URL on itself, which
// serves the file; both need the bearer token.
func graph(t *testing.T, sha string) (base string) {
	t.Helper()
	var srvURL string
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer meta-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case r.URL.Path == "/v23.0/1065":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"messaging_product": "whatsapp", "url": srvURL + "/media/1065?ext=1",
				"mime_type": "image/jpeg", "sha256": sha, "file_size": "43", "id": "1065"})
		case r.URL.Path == "/v23.0/elsewhere":
			_ = json.NewEncoder(w).Encode(map[string]any{"url": "https://attacker.example/x", "sha256": sha})
		case r.URL.Path == "/v23.0/gone":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"Unsupported get request. Object with ID 'gone' does not exist","code":100}}`)
		case r.URL.Path == "/media/1065":
			_, _ = w.Write(providerFile)
		default:
			http.NotFound(w, r)
		}
	}))
	srvURL = srv.URL
	return srv.URL
}

func TestMetaOpenLooksUpThenDownloads(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256(providerFile)
	for name, sha := range map[string]string{"hex": hex.EncodeToString(sum[:]), "base64": base64.StdEncoding.EncodeToString(sum[:])} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			base := graph(t, sha)
			f := newFetcher(t, "https://mmg.whatsapp.net", func(o *Options) { o.MetaGraphBase = base })
			rc, m, _, err := f.MetaOpen(testCtx(t), "meta-token", "1065", 0)
			require.NoError(t, err)
			require.Equal(t, providerFile, readAll(t, rc))
			require.Equal(t, sum[:], m.SHA256)
			require.Equal(t, "image/jpeg", m.Mimetype)
			require.Equal(t, int64(43), m.FileSize)

			_, _, _, err = f.MetaOpen(testCtx(t), "meta-token", "gone", 0)
			requireKind(t, err, ErrExpired, "expired", false)
			require.Contains(t, err.Error(), "does not exist")

			_, _, _, err = f.MetaOpen(testCtx(t), "meta-token", "elsewhere", 0)
			requireKind(t, err, ErrForbiddenHost, "http_error", false)

			for _, id := range []string{"", "../1065", "1065?x=1", ".."} {
				_, _, _, err = f.MetaOpen(testCtx(t), "meta-token", id, 0)
				requireKind(t, err, ErrNoLocation, "missing_fields", false)
			}
			_, _, _, err = f.MetaOpen(testCtx(t), "", "1065", 0)
			requireKind(t, err, ErrNoLocation, "missing_fields", false)
			_, _, _, err = f.MetaOpen(testCtx(t), "wrong-token", "1065", 0)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "token")
		})
	}
}

func TestDecodeSHA256(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("x"))
	for _, s := range []string{hex.EncodeToString(sum[:]), strings.ToUpper(hex.EncodeToString(sum[:])),
		base64.StdEncoding.EncodeToString(sum[:]), base64.RawURLEncoding.EncodeToString(sum[:])} {
		got, err := DecodeSHA256(s)
		require.NoError(t, err, s)
		require.Equal(t, sum[:], got, s)
	}
	for _, s := range []string{"", "abc", hex.EncodeToString(sum[:16]), base64.StdEncoding.EncodeToString(sum[:31])} {
		_, err := DecodeSHA256(s)
		require.Error(t, err, s)
	}
}

func TestEvolutionOpen(t *testing.T) {
	t.Parallel()
	var got struct {
		Message struct {
			Key EvolutionKey `json:"key"`
		} `json:"message"`
		ConvertToMp4 *bool `json:"convertToMp4"`
	}
	evo := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("apikey") != "evo-key" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"status":401,"error":"Unauthorized","response":{"message":"Unauthorized"}}`)
			return
		}
		require.Equal(t, http.MethodPost, r.Method)
		require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		switch r.URL.Path {
		case "/chat/getBase64FromMediaMessage/padaria":
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"mediaType": "imageMessage", "fileName": "3EB0.jpeg",
				"mimetype": "image/jpeg", "base64": base64.StdEncoding.EncodeToString(providerFile), "buffer": nil})
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"status":400,"error":"Bad Request","response":{"message":["Message not found"]}}`)
		}
	}))
	f := newFetcher(t, "https://mmg.whatsapp.net")
	key := EvolutionKey{RemoteJID: "5511999990000@s.whatsapp.net", ID: "3EB0C0FFEE"}
	rc, info, err := f.EvolutionOpen(testCtx(t), Server{Base: evo.URL, APIKey: "evo-key"}, "padaria", key)
	require.NoError(t, err)
	require.Equal(t, providerFile, readAll(t, rc))
	require.Equal(t, key, got.Message.Key)
	require.NotNil(t, got.ConvertToMp4)
	require.False(t, *got.ConvertToMp4)
	require.Equal(t, int64(len(providerFile)), info.ContentLength)

	_, _, err = f.EvolutionOpen(testCtx(t), Server{Base: evo.URL, APIKey: "evo-key"}, "clinica", key)
	requireKind(t, err, ErrFallbackFailed, "expired", false)
	require.Contains(t, err.Error(), "Message not found")

	_, _, err = f.EvolutionOpen(testCtx(t), Server{Base: evo.URL, APIKey: "wrong-key"}, "padaria", key)
	requireKind(t, err, ErrFallbackFailed, "expired", false)
	require.NotContains(t, err.Error(), "wrong-key")

	_, _, err = f.EvolutionOpen(testCtx(t), Server{Base: evo.URL, APIKey: "evo-key"}, "padaria", EvolutionKey{})
	requireKind(t, err, ErrFallbackFailed, "expired", false)
	_, _, err = f.EvolutionOpen(testCtx(t), Server{}, "padaria", key)
	requireKind(t, err, ErrFallbackFailed, "expired", false)
}
