package fetch

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// downloadRequest is the body of download-media: exactly these four fields
// (extra fields made the API slower).
type downloadRequest struct {
	MediaKey   string `json:"mediaKey"`
	DirectPath string `json:"directPath"`
	Type       string `json:"type"`
	Mimetype   string `json:"mimetype"`
}

// downloadAnswer is what download-media answers. error, errorMessage,
// success and data are kept raw: their types vary between integrations.
type downloadAnswer struct {
	Error        json.RawMessage `json:"error"`
	ErrorMessage json.RawMessage `json:"errorMessage"`
	Success      json.RawMessage `json:"success"`
	FileLink     string          `json:"fileLink"`
	Base64       string          `json:"base64"`
	FileBase64   string          `json:"fileBase64"`
	Data         json.RawMessage `json:"data"`
}

// FallbackOpen downloads d through W-API's download-media with the instance's
// bearer token: POST {WAPIBase}/v1/message/download-media?instanceId=ID, then
// either GET the returned fileLink at once (same token, same cap and
// timeouts) or decode the inline base64. The bytes are already DECRYPTED: the
// caller verifies them as plain (fileSha256, magic numbers).
//
// A fileLink is followed only when it is on WAPIBase's host:port or is https
// on a FileLinkHosts host (see Options); redirects follow the same rule.
//
// Any failure before the body is returned is an ErrFallbackFailed wrapping
// the cause (Reason `expired`). The token never appears in errors or logs.
func (f *Fetcher) FallbackOpen(ctx context.Context, instanceID, token string, d *wamedia.Descriptor) (io.ReadCloser, Info, error) {
	rc, info, err := f.fallback(ctx, instanceID, token, d)
	if err != nil {
		return nil, Info{}, &Error{Kind: ErrFallbackFailed, URL: info.URL, Err: err}
	}
	return rc, info, nil
}

func (f *Fetcher) fallback(ctx context.Context, instanceID, token string, d *wamedia.Descriptor) (io.ReadCloser, Info, error) {
	switch {
	case f.wapi == nil:
		return nil, Info{}, errors.New("no W-API base URL configured")
	case instanceID == "":
		return nil, Info{}, errors.New("no instance id")
	case token == "":
		return nil, Info{}, errors.New("no W-API token for the instance")
	case d.DirectPath == "" || len(d.MediaKey) == 0:
		return nil, Info{}, &Error{Kind: ErrNoLocation, Err: errors.New("download-media needs directPath and mediaKey")}
	}
	typ := wapiType(d.Type)
	if typ == "" {
		return nil, Info{}, fmt.Errorf("media type %q unknown", d.Type)
	}
	payload, err := json.Marshal(downloadRequest{
		MediaKey:   base64.StdEncoding.EncodeToString(d.MediaKey),
		DirectPath: d.DirectPath,
		Type:       typ,
		Mimetype:   d.Mimetype,
	})
	if err != nil {
		return nil, Info{}, fmt.Errorf("encoding download-media request: %w", err)
	}
	endpoint := f.wapiBase + "/v1/message/download-media?instanceId=" + url.QueryEscape(instanceID)
	info := Info{URL: endpoint, ContentLength: -1}

	ans, err := f.callDownloadMedia(ctx, endpoint, token, payload)
	if err != nil {
		return nil, info, err
	}
	if ans.FileLink != "" {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+token) // without it the link was seen to hang
		f.log.Debug("W-API fallback answered with a fileLink", zap.String("instance_id", instanceID))
		return f.get(ctx, ans.FileLink, f.wapi, h, d.FileLength)
	}
	data, err := decodeInline(ans.inline(), f.opts.MaxBytes)
	if err != nil {
		return nil, info, err
	}
	info.ContentLength = int64(len(data))
	f.log.Debug("W-API fallback answered inline", zap.String("instance_id", instanceID), zap.Int("bytes", len(data)))
	return io.NopCloser(bytes.NewReader(data)), info, nil
}

// callDownloadMedia posts the request and reads a successful answer.
func (f *Fetcher) callDownloadMedia(ctx context.Context, endpoint, token string, payload []byte) (*downloadAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.FallbackTimeout)
	defer cancel()
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("building download-media request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, g, err := f.send(ctx, req, f.wapi, f.opts.FallbackTimeout)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := statusError(resp.StatusCode, resp.Header.Get("Retry-After"), endpoint)
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		var ans downloadAnswer
		if json.Unmarshal(head, &ans) == nil {
			if msg := ans.message(); msg != "" {
				e.Err = fmt.Errorf("W-API: %s", msg)
			}
		}
		return nil, e
	}
	// The answer may carry the file in base64: 4/3 of the cap plus room for
	// the JSON around it, and never more than MaxInlineBytes.
	limit := min(f.opts.MaxBytes/3*4+64<<10, f.opts.MaxInlineBytes)
	if resp.ContentLength > limit {
		return nil, &Error{Kind: ErrTooLarge, URL: endpoint, Err: fmt.Errorf("download-media answer of %d bytes", resp.ContentLength)}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, g.explain(err, endpoint)
	}
	if int64(len(raw)) > limit {
		return nil, &Error{Kind: ErrTooLarge, URL: endpoint, Err: fmt.Errorf("download-media answer over %d bytes", limit)}
	}
	var ans downloadAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, fmt.Errorf("decoding download-media answer: %w", err)
	}
	if err := ans.failure(); err != nil {
		return nil, err
	}
	return &ans, nil
}

// failure reports an answer that says it failed or that carries no file.
// It tests the value of error, not its presence: "error": false is success.
func (a *downloadAnswer) failure() error {
	msg := a.message()
	switch {
	case truthy(a.Error), isFalse(a.Success), nonEmpty(a.ErrorMessage):
		if msg == "" {
			msg = "download-media reported an error"
		}
		return fmt.Errorf("W-API: %s", msg)
	case a.FileLink == "" && a.inline() == "":
		return errors.New("W-API: answer carries neither fileLink nor base64")
	}
	return nil
}

// message is the most specific error text of an answer.
func (a *downloadAnswer) message() string {
	for _, raw := range []json.RawMessage{a.ErrorMessage, a.Error} {
		var s string
		if json.Unmarshal(raw, &s) == nil && strings.TrimSpace(s) != "" {
			return clip(s, 200)
		}
	}
	return ""
}

// inline returns the base64 file of an answer, if any.
func (a *downloadAnswer) inline() string {
	for _, s := range []string{a.Base64, a.FileBase64} {
		if s != "" {
			return s
		}
	}
	var s string
	if json.Unmarshal(a.Data, &s) == nil {
		return s
	}
	return ""
}

// decodeInline decodes standard or URL-safe base64, padded or not, optionally
// as a data: URL, refusing more than max decoded bytes.
func decodeInline(s string, max int64) ([]byte, error) {
	if rest, ok := strings.CutPrefix(s, "data:"); ok {
		if i := strings.IndexByte(rest, ','); i >= 0 {
			s = rest[i+1:]
		}
	}
	if strings.ContainsAny(s, " \r\n\t") {
		s = strings.Join(strings.Fields(s), "")
	}
	if int64(base64.RawStdEncoding.DecodedLen(len(s))) > max+2 {
		return nil, &Error{Kind: ErrTooLarge, Err: fmt.Errorf("inline file exceeds the %d byte cap", max)}
	}
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(s); err == nil {
			if int64(len(b)) > max {
				return nil, &Error{Kind: ErrTooLarge, Err: fmt.Errorf("inline file exceeds the %d byte cap", max)}
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("decoding inline base64: %w", err)
}

// wapiType is the type download-media expects: stickers go as image, round
// video notes (ptv, already Video) as video.
func wapiType(t wamedia.MediaType) string {
	switch t {
	case wamedia.Image, wamedia.Sticker:
		return "image"
	case wamedia.Video:
		return "video"
	case wamedia.Audio:
		return "audio"
	case wamedia.Document:
		return "document"
	}
	return ""
}

func truthy(raw json.RawMessage) bool {
	switch v := strings.TrimSpace(string(raw)); v {
	case "", "null", "false", "0", `""`, `"false"`:
		return false
	}
	return true
}

func isFalse(raw json.RawMessage) bool {
	v := strings.TrimSpace(string(raw))
	return v == "false" || v == `"false"`
}

func nonEmpty(raw json.RawMessage) bool {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.TrimSpace(s) != ""
	}
	return truthy(raw)
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
