package wasim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/samples"
)

const testToken = "wapi-secret-token"

// downloadMedia calls download-media for it as the downloader would.
func (b *testBundle) downloadMedia(t *testing.T, instance, token string, body any) (int, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, b.srv.WAPIBaseURL()+"/v1/message/download-media?instanceId="+instance, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func fourFields(it *Item) map[string]string {
	return map[string]string{
		"mediaKey":   base64.StdEncoding.EncodeToString(it.MediaKey),
		"directPath": it.DirectPath,
		"type":       it.WAPIType(),
		"mimetype":   it.Sample.Mimetype,
	}
}

func (b *testBundle) getLink(t *testing.T, link, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, link, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

func TestDownloadMediaFileLink(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.AddInstance(InstancePro, testToken)
	for _, name := range []string{samples.ImageJPEG, samples.StickerWebP, samples.VideoPTV, samples.AudioVoice, samples.DocumentDOCX} {
		smp := samples.ByName(name)
		it := b.add(t, name)
		code, out := b.downloadMedia(t, InstancePro, testToken, fourFields(it))
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, false, out["error"])
		link := out["fileLink"].(string)
		require.True(t, strings.HasPrefix(link, b.srv.URL()+"/media/file/"), link)
		require.Greater(t, out["expires"].(float64), float64(time.Now().UnixMilli()))

		code, _ = b.getLink(t, link, "")
		require.Equal(t, http.StatusUnauthorized, code, "the fileLink needs the bearer token")
		code, body := b.getLink(t, link, testToken)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, smp.Data, body, name)
		require.EqualValues(t, 1, it.WAPICalls())
	}
	require.True(t, strings.HasSuffix(extension(samples.MimeJPEG), "jpeg"))
	require.Equal(t, "ogg", extension(samples.MimeOpus))
	st := b.srv.Stats()
	require.EqualValues(t, 5, st.DownloadMedia)
	require.EqualValues(t, 5, st.FileLinks)
	require.Zero(t, st.DownloadMediaExtraFields)
}

func TestDownloadMediaModes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.AddInstance(InstanceLite, testToken)
	it := b.add(t, samples.AudioMP3)

	b.srv.SetWAPIMode(WAPIBase64)
	code, out := b.downloadMedia(t, InstanceLite, testToken, fourFields(it))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, out["error"])
	data, err := base64.StdEncoding.DecodeString(out["base64"].(string))
	require.NoError(t, err)
	require.Equal(t, samples.ByName(samples.AudioMP3).Data, data)

	b.srv.SetWAPIMode(WAPIError)
	code, out = b.downloadMedia(t, InstanceLite, testToken, fourFields(it))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, out["error"])
	require.NotEmpty(t, out["errorMessage"])

	b.srv.SetWAPIMode(WAPIFailure)
	code, _ = b.downloadMedia(t, InstanceLite, testToken, fourFields(it))
	require.Equal(t, http.StatusInternalServerError, code)

	b.srv.SetWAPIMode(WAPIFileLink)
	it.SetWAPIMode(WAPIGone)
	code, out = b.downloadMedia(t, InstanceLite, testToken, fourFields(it))
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, true, out["error"])
	it.SetWAPIMode("")
	code, out = b.downloadMedia(t, InstanceLite, testToken, fourFields(it))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, out["error"])
	require.EqualValues(t, 5, it.WAPICalls())
}

func TestDownloadMediaRejects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.AddInstance(InstancePro, testToken)
	it := b.add(t, samples.StickerAnimated)

	code, _ := b.downloadMedia(t, InstancePro, "wrong", fourFields(it))
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = b.downloadMedia(t, InstancePro, "", fourFields(it))
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = b.downloadMedia(t, InstanceLite, testToken, fourFields(it))
	require.Equal(t, http.StatusUnauthorized, code, "token of another instance")
	require.EqualValues(t, 3, b.srv.Stats().DownloadMediaUnauthorized)

	f := fourFields(it)
	f["type"] = "sticker"
	code, out := b.downloadMedia(t, InstancePro, testToken, f)
	require.Equal(t, http.StatusBadRequest, code, "stickers go as image")
	require.Equal(t, true, out["error"])

	f = fourFields(it)
	f["mediaKey"] = base64.StdEncoding.EncodeToString(make([]byte, 32))
	code, out = b.downloadMedia(t, InstancePro, testToken, f)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, out["error"], "wrong key")

	f = fourFields(it)
	f["directPath"] = "/v/t62.15575-24/1_2_n.enc?ccb=11-4"
	code, out = b.downloadMedia(t, InstancePro, testToken, f)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, true, out["error"])

	f = fourFields(it)
	f["fileSha256"] = "extra"
	code, out = b.downloadMedia(t, InstancePro, testToken, f)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, out["error"])
	require.EqualValues(t, 1, b.srv.Stats().DownloadMediaExtraFields)
}

func TestFileLinkExpires(t *testing.T) {
	t.Parallel()
	srv, err := New(Config{FileLinkTTL: time.Nanosecond})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	b := &testBundle{srv: srv, client: http.DefaultClient}
	srv.AddInstance(InstancePro, testToken)
	it := b.add(t, samples.ImagePNG)
	_, out := b.downloadMedia(t, InstancePro, testToken, fourFields(it))
	code, _ := b.getLink(t, out["fileLink"].(string), testToken)
	require.Equal(t, http.StatusGone, code)
}
