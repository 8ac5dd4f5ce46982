package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// The ways to the bytes of providers other than W-API. Each checks its URLs
// against a policy of its own before and after every redirect, through the
// same dial hook, caps and timeouts as Open:
//
//   - WAHA and Evolution API run beside mediapipe, at a base URL the operator
//     registered with the instance (Server). That exact host:port is trusted
//     like WAPIBase (plain http, a private address) for that request only;
//     nothing else is reachable through it.
//   - Z-API serves decrypted files from its storage hosts (ZAPIHosts), https
//     only.
//   - Meta's Graph API (MetaGraphBase) answers a media id with a short-lived
//     URL on Meta's hosts (MetaMediaHosts), fetched with the same token.

// Server is an instance's own provider server, as registered by the
// operator: its base URL and the API key it expects. The key never appears
// in errors or logs.
type Server struct {
	Base   string
	APIKey string
}

// trustedKey carries, in a request's context, the one extra host:port the
// dial hook lets through for that request (a registered Server's base).
type trustedKey struct{}

// serverPolicy parses srv.Base and returns a policy that permits only its
// host:port, and a context that trusts it for dialing.
func serverPolicy(ctx context.Context, name string, srv Server) (*policy, string, context.Context, error) {
	if strings.TrimSpace(srv.Base) == "" {
		return nil, "", ctx, fmt.Errorf("no %s base URL registered for the instance", name)
	}
	ep, base, err := parseBase(name+" base URL", srv.Base)
	if err != nil {
		return nil, "", ctx, err
	}
	return &policy{name: name, base: ep}, base, context.WithValue(ctx, trustedKey{}, ep.hostport), nil
}

// WAHAOpen downloads the already-decrypted file WAHA keeps at mediaURL
// (payload.media.url) with the server's X-Api-Key. mediaURL must be on the
// registered base's host:port: a webhook cannot point the fetcher anywhere
// else. hint is the declared size, if any. The caller checks the content:
// WAHA gives no hash.
func (f *Fetcher) WAHAOpen(ctx context.Context, srv Server, mediaURL string, hint int64) (io.ReadCloser, Info, error) {
	pol, base, ctx, err := serverPolicy(ctx, "WAHA server", srv)
	if err != nil {
		return nil, Info{}, &Error{Kind: ErrNoLocation, Err: err}
	}
	if err := checkLocation(mediaURL); err != nil {
		return nil, Info{}, err
	}
	if err := wahaFilePath(base, mediaURL); err != nil {
		return nil, Info{}, err
	}
	h := http.Header{}
	if srv.APIKey != "" {
		h.Set("X-Api-Key", srv.APIKey)
	}
	return f.get(ctx, mediaURL, pol, h, hint)
}

// wahaFilePath refuses a media URL outside WAHA's file route
// ({base}/api/files/...): the API key goes with the request, and a webhook
// must not turn it into a GET of another WAHA endpoint (some act, like the
// legacy GET /api/sendText). The path is taken as the server will read it:
// dot segments and escaped slashes are refused rather than resolved.
func wahaFilePath(base, mediaURL string) error {
	b, err := url.Parse(base)
	if err != nil {
		return &Error{Kind: ErrNoLocation, Err: fmt.Errorf("WAHA base URL: %w", err)}
	}
	u, err := url.Parse(mediaURL)
	if err != nil {
		return &Error{Kind: ErrNoLocation, Err: fmt.Errorf("media url: %w", err)}
	}
	prefix := strings.TrimRight(b.EscapedPath(), "/") + "/api/files/"
	p := u.EscapedPath()
	if !strings.HasPrefix(p, prefix) || len(p) == len(prefix) || strings.Contains(strings.ToLower(p), "%2f") ||
		strings.Contains(strings.ToLower(p), "%2e") || path.Clean(p) != p {
		return &Error{Kind: ErrForbiddenHost, URL: clip(mediaURL, 120), Err: fmt.Errorf("not a file of the WAHA server (want %s…)", prefix)}
	}
	return nil
}

// ZAPIOpen downloads the already-decrypted file Z-API keeps at mediaURL
// (imageUrl, audioUrl, ...): https on a ZAPIHosts host, or ZAPIStorageBase's
// host:port when one is configured. The caller checks the content.
func (f *Fetcher) ZAPIOpen(ctx context.Context, mediaURL string, hint int64) (io.ReadCloser, Info, error) {
	if err := checkLocation(mediaURL); err != nil {
		return nil, Info{}, err
	}
	return f.get(ctx, mediaURL, f.zapi, http.Header{}, hint)
}

// checkLocation refuses a media URL that is empty or unparsable.
func checkLocation(raw string) error {
	if raw == "" {
		return &Error{Kind: ErrNoLocation, Err: errors.New("no media url")}
	}
	if _, err := url.Parse(raw); err != nil {
		return &Error{Kind: ErrNoLocation, Err: fmt.Errorf("media url: %w", err)}
	}
	return nil
}

// MetaMedia is what the Graph API says of a media id.
type MetaMedia struct {
	URL      string
	Mimetype string
	// SHA256 is the plain file's SHA-256, decoded from hex or base64; nil
	// when the answer had none.
	SHA256   []byte
	FileSize int64 // -1 when not given
}

// metaAnswer is the Graph API's answer to GET /{version}/{media-id}.
// file_size arrives as a number or a string.
type metaAnswer struct {
	URL      string          `json:"url"`
	Mimetype string          `json:"mime_type"`
	SHA256   string          `json:"sha256"`
	FileSize json.RawMessage `json:"file_size"`
	Error    *struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
	} `json:"error"`
}

// maxMetaAnswer caps the Graph API's JSON answer.
const maxMetaAnswer = 64 << 10

// MetaOpen asks the Graph API where media id lives (GET
// {MetaGraphBase}/{MetaGraphVersion}/{id} with the bearer token), then
// downloads it from the URL it names with the same token: that URL is valid
// for 5 minutes, so the two happen back to back. The URL must be on
// MetaMediaHosts or on MetaGraphBase's host:port. The caller checks the plain
// bytes against MetaMedia.SHA256.
//
// A media id the Graph API does not know (400, 404) is ErrExpired.
func (f *Fetcher) MetaOpen(ctx context.Context, token, mediaID string, hint int64) (io.ReadCloser, MetaMedia, Info, error) {
	switch {
	case token == "":
		return nil, MetaMedia{}, Info{}, &Error{Kind: ErrNoLocation, Err: errors.New("no Meta access token for the instance")}
	case mediaID == "" || strings.ContainsAny(mediaID, "/?#%\\") || mediaID == "." || mediaID == "..":
		return nil, MetaMedia{}, Info{}, &Error{Kind: ErrNoLocation, Err: fmt.Errorf("media id %q is not usable", clip(mediaID, 40))}
	}
	m, info, err := f.metaLookup(ctx, token, mediaID)
	if err != nil {
		return nil, MetaMedia{}, info, err
	}
	if hint <= 0 {
		hint = m.FileSize
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	rc, info, err := f.get(ctx, m.URL, f.metaMedia, h, hint)
	return rc, m, info, err
}

func (f *Fetcher) metaLookup(ctx context.Context, token, mediaID string) (MetaMedia, Info, error) {
	endpoint := f.metaBase + "/" + url.PathEscape(f.opts.MetaGraphVersion) + "/" + url.PathEscape(mediaID)
	info := Info{URL: endpoint, ContentLength: -1}
	req, err := http.NewRequest(http.MethodGet, endpoint, nil)
	if err != nil {
		return MetaMedia{}, info, &Error{Kind: ErrNoLocation, Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	raw, status, retryAfter, err := f.call(ctx, req, f.metaGraph)
	if err != nil {
		return MetaMedia{}, info, err
	}
	var ans metaAnswer
	jsonErr := json.Unmarshal(raw, &ans)
	if status < 200 || status > 299 {
		e := statusError(status, retryAfter, endpoint)
		if status == 400 {
			e.Kind = ErrExpired // an unknown or expired media id
		}
		if jsonErr == nil && ans.Error != nil && ans.Error.Message != "" {
			e.Err = fmt.Errorf("graph API: %s", clip(ans.Error.Message, 200))
		}
		return MetaMedia{}, info, e
	}
	if jsonErr != nil {
		return MetaMedia{}, info, &Error{Kind: ErrStatus, URL: endpoint, Err: fmt.Errorf("decoding the graph API answer: %w", jsonErr)}
	}
	if ans.URL == "" {
		return MetaMedia{}, info, &Error{Kind: ErrNoLocation, URL: endpoint, Err: errors.New("graph API answer has no url")}
	}
	m := MetaMedia{URL: ans.URL, Mimetype: ans.Mimetype, FileSize: -1}
	if ans.SHA256 != "" {
		if m.SHA256, err = DecodeSHA256(ans.SHA256); err != nil {
			return MetaMedia{}, info, &Error{Kind: ErrStatus, URL: endpoint, Err: fmt.Errorf("graph API sha256: %w", err)}
		}
	}
	if n, ok := jsonInt(ans.FileSize); ok && n >= 0 {
		m.FileSize = n
	}
	return m, info, nil
}

// DecodeSHA256 reads a SHA-256 given as hex or as base64 (Meta's examples
// show both).
func DecodeSHA256(s string) ([]byte, error) {
	b, err := wamedia.DecodeBytes(s)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("%q is neither hex nor base64 of 32 bytes", clip(s, 80))
	}
	return b, nil
}

// jsonInt reads a JSON number or a string holding one.
func jsonInt(raw json.RawMessage) (int64, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// EvolutionKey names a message to Evolution API: its chat, direction and id.
type EvolutionKey struct {
	RemoteJID string `json:"remoteJid,omitempty"`
	FromMe    bool   `json:"fromMe"`
	ID        string `json:"id"`
}

// evolutionAnswer is what getBase64FromMediaMessage answers (201), and the
// shape of its errors.
type evolutionAnswer struct {
	Base64   string `json:"base64"`
	Mimetype string `json:"mimetype"`
	Response *struct {
		Message json.RawMessage `json:"message"`
	} `json:"response"`
	Error json.RawMessage `json:"error"`
}

// EvolutionOpen asks the instance's Evolution API server for the decrypted
// media of a message: POST {base}/chat/getBase64FromMediaMessage/{instance}
// with the message key (Evolution finds the message in its own store and,
// while the phone is connected, can have expired media re-uploaded). The
// answer carries the file in base64, decoded in memory under MaxInlineBytes.
// The bytes are plain: the caller checks them against fileSha256.
//
// Any failure before the body is returned is an ErrFallbackFailed wrapping
// the cause, like W-API's download-media.
func (f *Fetcher) EvolutionOpen(ctx context.Context, srv Server, instance string, key EvolutionKey) (io.ReadCloser, Info, error) {
	rc, info, err := f.evolution(ctx, srv, instance, key)
	if err != nil {
		return nil, Info{}, &Error{Kind: ErrFallbackFailed, URL: info.URL, Err: err}
	}
	return rc, info, nil
}

func (f *Fetcher) evolution(ctx context.Context, srv Server, instance string, key EvolutionKey) (io.ReadCloser, Info, error) {
	pol, base, ctx, err := serverPolicy(ctx, "Evolution API server", srv)
	switch {
	case err != nil:
		return nil, Info{}, err
	case instance == "":
		return nil, Info{}, errors.New("no instance name")
	case key.ID == "":
		return nil, Info{}, &Error{Kind: ErrNoLocation, Err: errors.New("getBase64FromMediaMessage needs the message id")}
	}
	payload, err := json.Marshal(map[string]any{"message": map[string]any{"key": key}, "convertToMp4": false})
	if err != nil {
		return nil, Info{}, fmt.Errorf("encoding getBase64FromMediaMessage request: %w", err)
	}
	endpoint := base + "/chat/getBase64FromMediaMessage/" + url.PathEscape(instance)
	info := Info{URL: endpoint, ContentLength: -1}
	ctx, cancel := context.WithTimeout(ctx, f.opts.FallbackTimeout)
	defer cancel()
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(payload))
	if err != nil {
		return nil, info, fmt.Errorf("building getBase64FromMediaMessage request: %w", err)
	}
	req.Header.Set("apikey", srv.APIKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	raw, status, retryAfter, err := f.call(ctx, req, pol)
	if err != nil {
		return nil, info, err
	}
	var ans evolutionAnswer
	jsonErr := json.Unmarshal(raw, &ans)
	if status < 200 || status > 299 {
		e := statusError(status, retryAfter, endpoint)
		if jsonErr == nil && ans.Response != nil {
			if msg := strings.Trim(clip(string(ans.Response.Message), 200), `[]"`); msg != "" {
				e.Err = fmt.Errorf("evolution API: %s", msg)
			}
		}
		return nil, info, e
	}
	if jsonErr != nil {
		return nil, info, fmt.Errorf("decoding getBase64FromMediaMessage answer: %w", jsonErr)
	}
	if ans.Base64 == "" {
		return nil, info, errors.New("evolution API: answer carries no base64")
	}
	data, err := decodeInline(ans.Base64, f.opts.MaxBytes)
	if err != nil {
		return nil, info, err
	}
	info.ContentLength = int64(len(data))
	f.log.Debug("Evolution API answered with the media", zap.String("instance", instance), zap.Int("bytes", len(data)))
	return io.NopCloser(bytes.NewReader(data)), info, nil
}

// call sends a request whose answer is a JSON document (a provider's API,
// not a media file) and reads it whole, under the inline cap. It returns the
// body of any status: the caller classifies.
func (f *Fetcher) call(ctx context.Context, req *http.Request, pol *policy) (body []byte, status int, retryAfter string, err error) {
	endpoint := req.URL.Redacted()
	resp, g, err := f.send(ctx, req, pol, f.opts.FallbackTimeout)
	if err != nil {
		return nil, 0, "", err
	}
	defer g.stop()
	defer resp.Body.Close()
	limit := int64(maxMetaAnswer)
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		limit = max(limit, min(f.opts.MaxBytes/3*4+64<<10, f.opts.MaxInlineBytes))
	}
	if resp.ContentLength > limit {
		return nil, 0, "", &Error{Kind: ErrTooLarge, URL: endpoint, Err: fmt.Errorf("answer of %d bytes", resp.ContentLength)}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, "", g.explain(err, endpoint)
	}
	if int64(len(raw)) > limit {
		return nil, 0, "", &Error{Kind: ErrTooLarge, URL: endpoint, Err: fmt.Errorf("answer over %d bytes", limit)}
	}
	return raw, resp.StatusCode, resp.Header.Get("Retry-After"), nil
}
