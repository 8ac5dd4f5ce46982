package cli_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

type blobFixture struct {
	dir, blob               string
	plain                   []byte
	key, plainHash, encHash string
}

func encryptSample(t *testing.T, name string, class wamedia.Class) blobFixture {
	t.Helper()
	s := samples.ByName(name)
	key := wamedia.GenerateMediaKey()
	var blob bytes.Buffer
	res, err := wamedia.Encrypt(bytes.NewReader(s.Data), &blob, key, class)
	require.NoError(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "blob.enc")
	require.NoError(t, os.WriteFile(path, blob.Bytes(), 0o600))
	b64 := base64.StdEncoding.EncodeToString
	return blobFixture{dir: dir, blob: path, plain: s.Data, key: b64(key), plainHash: b64(res.FileSHA256), encHash: b64(res.FileEncSHA256)}
}

func decryptOut(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &m), out)
	return m
}

func noPartials(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Name(), ".part", "temporary file left behind")
	}
}

func TestDecryptCommand(t *testing.T) {
	t.Parallel()
	f := encryptSample(t, samples.ImageJPEG, wamedia.ClassImage)
	out := filepath.Join(f.dir, "photo.jpg")
	code, stdout, stderr := runWithEnv(t, nil, "", "decrypt", "--type", "image", "--media-key", f.key,
		"--file-sha256", f.plainHash, "--file-enc-sha256", f.encHash, "--in", f.blob, "--out", out)
	require.Equal(t, cli.ExitOK, code, stderr)
	m := decryptOut(t, stdout)
	require.Equal(t, "success", m["status"])
	require.Equal(t, "image/jpeg", m["mimetype"])
	require.EqualValues(t, len(f.plain), m["bytes"])
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, f.plain, got)
	noPartials(t, f.dir)
}

func TestDecryptCommandDescriptor(t *testing.T) {
	t.Parallel()
	f := encryptSample(t, samples.AudioVoice, wamedia.ClassAudio)
	for i, length := range []string{`"7104"`, `7104`} {
		desc := filepath.Join(f.dir, "desc.json")
		require.NoError(t, os.WriteFile(desc, []byte(`{"audioMessage": {"mimetype": "audio/ogg; codecs=opus", "fileLength": `+length+
			`, "ptt": true, "mediaKey": "`+f.key+`", "fileSha256": "`+f.plainHash+`", "fileEncSha256": "`+f.encHash+`",
			"directPath": "/v/t62.7117-24/1_2_n.enc?oh=x&oe=y", "unknownField": {"x": 1}}}`), 0o600))
		out := filepath.Join(f.dir, "voice"+string(rune('a'+i))+".ogg")
		code, stdout, stderr := runWithEnv(t, nil, "", "decrypt", "--descriptor", desc, "--in", f.blob, "--out", out)
		require.Equal(t, cli.ExitOK, code, stderr)
		require.Equal(t, "audio/ogg", decryptOut(t, stdout)["mimetype"])
	}
}

func TestDecryptCommandFailures(t *testing.T) {
	t.Parallel()
	f := encryptSample(t, samples.DocumentPDF, wamedia.ClassImage)
	other := encryptSample(t, samples.ImagePNG, wamedia.ClassImage)
	out := filepath.Join(f.dir, "out.bin")
	cases := []struct {
		name, reason string
		args         []string
	}{
		{"a PDF sent as an image", "type_mismatch", []string{"--type", "image", "--media-key", f.key, "--file-sha256", f.plainHash, "--file-enc-sha256", f.encHash}},
		{"wrong fileSha256", "plain_hash_mismatch", []string{"--type", "image", "--media-key", f.key, "--file-sha256", other.plainHash, "--file-enc-sha256", f.encHash}},
		{"wrong fileEncSha256", "enc_hash_mismatch", []string{"--type", "image", "--media-key", f.key, "--file-sha256", f.plainHash, "--file-enc-sha256", other.encHash}},
		{"wrong key", "mac_mismatch", []string{"--type", "image", "--media-key", other.key, "--file-sha256", f.plainHash, "--file-enc-sha256", f.encHash}},
		{"wrong class", "mac_mismatch", []string{"--type", "document", "--media-key", f.key, "--file-sha256", f.plainHash, "--file-enc-sha256", f.encHash}},
	}
	for _, c := range cases {
		args := append([]string{"decrypt"}, c.args...)
		args = append(args, "--in", f.blob, "--out", out)
		code, stdout, _ := runWithEnv(t, nil, "", args...)
		require.Equal(t, cli.ExitFailure, code, c.name)
		m := decryptOut(t, stdout)
		require.Equal(t, "failed", m["status"], c.name)
		require.Equal(t, c.reason, m["reason"], c.name)
		require.NoFileExists(t, out, "%s: no partial --out", c.name)
		require.NotContains(t, stdout, f.key, "the media key is never printed")
	}
	noPartials(t, f.dir)

	for _, args := range [][]string{
		{"decrypt", "--type", "image", "--media-key", f.key, "--in", f.blob},                              // no --out
		{"decrypt", "--type", "image", "--media-key", "short", "--in", f.blob, "--out", out},              // bad key
		{"decrypt", "--type", "picture", "--media-key", f.key, "--in", f.blob, "--out", out},              // bad type
		{"decrypt", "--type", "image", "--media-key", f.key, "--out", out},                                // no input
		{"decrypt", "--type", "image", "--media-key", f.key, "--in", f.blob, "--url", "/x", "--out", out}, // two inputs
	} {
		code, _, _ := runWithEnv(t, nil, "", args...)
		require.Equal(t, cli.ExitUsage, code, args)
	}
}

func TestDecryptCommandURL(t *testing.T) {
	t.Parallel()
	f := encryptSample(t, samples.StickerWebP, wamedia.ClassImage)
	blob, err := os.ReadFile(f.blob)
	require.NoError(t, err)
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "oh=sig&oe=68A1B2C3" {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		_, _ = w.Write(blob)
	}))
	defer cdn.Close()
	env := map[string]string{"WHATSAPP_CDN_BASE_URL": cdn.URL}
	out := filepath.Join(f.dir, "sticker.webp")
	code, stdout, stderr := runWithEnv(t, env, "", "decrypt", "--type", "sticker", "--media-key", f.key,
		"--file-sha256", f.plainHash, "--file-enc-sha256", f.encHash, "--url", "/v/t62.15575-24/1_2_n.enc?oh=sig&oe=68A1B2C3", "--out", out)
	require.Equal(t, cli.ExitOK, code, stderr)
	require.Equal(t, "success", decryptOut(t, stdout)["status"])

	// A URL off the allowlist is refused, never fetched.
	code, stdout, _ = runWithEnv(t, env, "", "decrypt", "--type", "sticker", "--media-key", f.key,
		"--url", "https://evil.example/v/x.enc", "--out", out+".2")
	require.Equal(t, cli.ExitFailure, code)
	require.Equal(t, "failed", decryptOut(t, stdout)["status"])
	require.NoFileExists(t, out+".2")
}
