package admin_test

import (
	"bytes"
	"fmt"
	"image/color"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// TestOpenStoredFile opens and downloads stored files on both media stores:
// safe image, audio and video types inline, anything else as an
// attachment, never sniffed, always sandboxed.
func TestOpenStoredFile(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"file", "s3"} {
		t.Run(backend, func(t *testing.T) {
			b := setup(t, setupOptions{s3: backend == "s3"})
			jpg := thumbnail(t, color.RGBA{200, 30, 30, 255})
			image := b.record(t, b.acme, wamedia.Image)
			b.storeFile(t, image, jpg, "image/jpeg", ".jpg")
			svg := b.record(t, b.acme, wamedia.Document)
			svgBody := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
			b.storeFile(t, svg, svgBody, "image/svg+xml", ".svg")
			html := b.record(t, b.globx, wamedia.Document)
			b.storeFile(t, html, []byte(`<html><script>alert(1)</script></html>`), "text/html; charset=utf-8", ".html")
			odd := b.record(t, b.acme, wamedia.Document)
			b.storeFile(t, odd, []byte("plain bytes"), "not a media type", ".bin")
			failed := b.record(t, b.acme, wamedia.Video)
			require.NoError(t, b.store.Fail(b.ctx, failed, catalog.StatusFailed, "timeout"))

			anon := b.client(t)
			resp := anon.get(fmt.Sprintf("/admin/media/%d/file", image))
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, "logged out: to the login form")
			require.NotContains(t, resp.body, string(jpg[:16]))

			c := b.client(t)
			c.login()
			resp = c.get(fmt.Sprintf("/admin/media/%d/file", image))
			require.Equal(t, http.StatusOK, resp.StatusCode, resp.body)
			require.Equal(t, jpg, []byte(resp.body))
			require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
			require.Equal(t, fmt.Sprintf(`inline; filename=media-%d.jpg`, image), resp.Header.Get("Content-Disposition"))
			require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			require.Contains(t, resp.Header.Get("Content-Security-Policy"), "sandbox")
			require.NotEmpty(t, resp.Header.Get("ETag"))

			resp = c.get(fmt.Sprintf("/admin/media/%d/file?download=1", image))
			require.Equal(t, fmt.Sprintf(`attachment; filename=media-%d.jpg`, image), resp.Header.Get("Content-Disposition"))

			// Ranges, as a video player asks for them.
			req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, fmt.Sprintf("%s/admin/media/%d/file", b.srv.URL, image), nil)
			require.NoError(t, err)
			req.Header.Set("Range", "bytes=2-9")
			resp = c.do(req)
			require.Equal(t, http.StatusPartialContent, resp.StatusCode)
			require.Equal(t, jpg[2:10], []byte(resp.body))

			// Types that could run script: attachments, sandboxed.
			for _, tc := range []struct {
				id    int64
				ctype string
				name  string
			}{{svg, "image/svg+xml", ".svg"}, {html, "text/html; charset=utf-8", ".html"}, {odd, "application/octet-stream", ".bin"}} {
				resp = c.get(fmt.Sprintf("/admin/media/%d/file", tc.id))
				require.Equal(t, http.StatusOK, resp.StatusCode, resp.body)
				require.Equal(t, tc.ctype, resp.Header.Get("Content-Type"))
				require.Equal(t, fmt.Sprintf(`attachment; filename=media-%d%s`, tc.id, tc.name), resp.Header.Get("Content-Disposition"))
				require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
				require.Contains(t, resp.Header.Get("Content-Security-Policy"), "sandbox")
			}

			// The detail page links the file: "Open" for an image, "Download"
			// for the rest, nothing without a stored file.
			page := c.get(fmt.Sprintf("/admin/media/%d", image))
			require.Contains(t, page.body, fmt.Sprintf(`href="/admin/media/%d/file" id="open-file">Open the stored file`, image))
			require.Contains(t, page.body, fmt.Sprintf(`href="/admin/media/%d/file?download=1" id="download-file"`, image))
			page = c.get(fmt.Sprintf("/admin/media/%d", svg))
			require.Contains(t, page.body, "Download the stored file")
			require.NotContains(t, page.body, `id="download-file"`)
			require.NotContains(t, c.get(fmt.Sprintf("/admin/media/%d", failed)).body, `id="file"`)

			require.Equal(t, http.StatusNotFound, c.get(fmt.Sprintf("/admin/media/%d/file", failed)).StatusCode)
			require.Equal(t, http.StatusNotFound, c.get(fmt.Sprintf("/admin/media/%d/file", failed+1000)).StatusCode)
			require.Equal(t, http.StatusNotFound, c.get("/admin/media/x/file").StatusCode)

			// Deleted by cleanup: 410, and the page says when.
			_, err = pgtest.DB(t, b.store).Exec(b.ctx,
				`UPDATE media_files SET file_path = NULL, file_size = NULL, file_deleted_at = now() WHERE id = $1`, odd)
			require.NoError(t, err)
			resp = c.get(fmt.Sprintf("/admin/media/%d/file", odd))
			require.Equal(t, http.StatusGone, resp.StatusCode)
			require.Contains(t, resp.body, "deleted by cleanup at")
			page = c.get(fmt.Sprintf("/admin/media/%d", odd))
			require.Contains(t, page.body, `id="file-deleted"`)
			require.NotContains(t, page.body, `id="file"`)

			// The file gone from the store: 404, said so.
			m, err := b.store.MediaByID(b.ctx, b.acme.id, image)
			require.NoError(t, err)
			require.NoError(t, b.blobs.Remove(m.FilePath))
			resp = c.get(fmt.Sprintf("/admin/media/%d/file", image))
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
			require.Contains(t, resp.body, "the stored file is gone")
			require.False(t, bytes.Contains([]byte(resp.body), jpg[:16]))
		})
	}
}
