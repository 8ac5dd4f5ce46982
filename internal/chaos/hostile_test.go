package chaos_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

// storedPath is the only shape a stored file has: cliente, two levels of
// the content hash, the hash and an extension from the sniffed type.
var storedPath = regexp.MustCompile(`^[0-9]+/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]+$`)

// TestHostileWebhooksThroughThePipeline: webhooks with path-traversal file
// names, invalid UTF-8, NUL escapes and numbers no integer holds, posted
// with ordinary ones, are accepted and processed like any other: each media
// item is stored once under its content hash, whatever name the message
// gives it, the names are recorded as sent (made valid text), and nothing
// is written outside MEDIA_DIR.
func TestHostileWebhooksThroughThePipeline(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, nil)
	marker := fmt.Sprintf("pwned-%d", os.Getpid())
	names := []string{
		"../../../../../../tmp/" + marker + ".pdf",
		`..\..\..\..\` + marker + `.pdf`,
		"/etc/" + marker,
		"./.tmp/.evil.part",
		marker + "\xff\xfe.pdf",
		"CON", "", strings.Repeat("a/", 300) + marker,
	}
	var ids []string
	for i, name := range names {
		s := samples.ByName(samples.DocumentPDF)
		it, err := p.sim.AddMedia(s, bytes.NewReader(samples.PDF(fmt.Sprintf("hostile %d", i))))
		require.NoError(t, err)
		obj := it.MediaObject()
		obj["fileName"], obj["title"] = "@@NAME@@", "@@NAME@@"
		obj["caption"] = "@@CAPTION@@"
		obj["fileLength"] = "99999999999999999999999999"
		obj["pageCount"] = 1e300
		id := fmt.Sprintf("3EB0HOSTILE%04d", i)
		ids = append(ids, id)
		body := webhook(wasim.InstancePro, id, "documentMessage", obj)
		body = bytes.ReplaceAll(body, []byte("@@NAME@@"), []byte(strings.ReplaceAll(name, `\`, `\\`)))
		body = bytes.Replace(body, []byte("@@CAPTION@@"), []byte("nul \\u0000 and bad \xc0\xaf utf-8 \xed\xa0\x80"), 1)
		body = bytes.Replace(body, []byte(`"pushName":"Maria"`), []byte("\"pushName\":\"\xff\""), 1)
		body = bytes.Replace(body, []byte(`"moment":`), []byte(`"moment":1e400,"x":`), 1)
		require.Equal(t, http.StatusAccepted, p.post(wasim.InstancePro, body), "%q", name)
		// An ordinary webhook right after it, likely in the same analyzer batch.
		ok, err := p.sim.AddSample(samples.ByName(samples.ImageJPEG))
		require.NoError(t, err)
		okID := fmt.Sprintf("3EB0ORDINARY%04d", i)
		ids = append(ids, okID)
		require.Equal(t, http.StatusAccepted, p.post(wasim.InstancePro,
			wasim.Webhook(wasim.EventReceived, wasim.WebhookOptions{InstanceID: wasim.InstancePro, MessageID: okID, Media: ok})))
	}
	rows := p.waitRows(wasim.InstancePro, ids)
	for i, name := range names {
		r := rows[fmt.Sprintf("3EB0HOSTILE%04d", i)]
		require.Equal(t, "success", r.Status, "%q: %s", name, r.Reason)
		require.Regexp(t, storedPath, r.Path, "%q is stored under its content hash", name)
		require.Equal(t, strings.ToValidUTF8(name, "\uFFFD"), r.FileName, "the name is kept as sent, as text")
	}
	for _, id := range ids {
		require.Equal(t, "success", rows[id].Status, id)
	}
	// Nothing but content-addressed files under MEDIA_DIR, nothing named
	// after the marker anywhere near it or where the traversal pointed.
	err := filepath.WalkDir(p.media, func(path string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(p.media, path)
			require.Regexp(t, storedPath, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	err = filepath.WalkDir(filepath.Dir(p.media), func(path string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		require.NotContains(t, d.Name(), marker)
		return nil
	})
	require.NoError(t, err)
	for _, target := range []string{"/tmp/" + marker + ".pdf", "/etc/" + marker} {
		_, err := os.Stat(target)
		require.ErrorIs(t, err, fs.ErrNotExist, target)
	}
}
