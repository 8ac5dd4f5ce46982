package e2e_test

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

// TestDownloaderKilledMidFile kills -9 a downloader while it streams a large
// video, checks that nothing is visible under the final path, restarts it,
// and checks that the item completes exactly once and that no temporary
// file survives: the new process removes the one the killed process left,
// which no live process holds any more.
//
// The job comes back by itself once its AckWait (60 s) passes after the
// killed process's last heart-beat; with -short the test replays it at once
// with `mediapipe reprocess --status downloading` instead.
func TestDownloaderKilledMidFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	size := int64(96 << 20)
	if testing.Short() {
		size = 48 << 20
	}
	// The first request is slow, so the process dies mid-stream; the next
	// one runs at full speed.
	it, err := e.sim.AddMedia(samples.LargeVideoSample(size), samples.LargeVideo(size),
		wasim.WithFaults(wasim.Fault{Kind: wasim.FaultSlow, BytesPerSecond: 4 << 20, Times: 1}))
	require.NoError(t, err)
	cliente := e.cliente[wasim.InstancePro]
	final, err := blob.Key(cliente, it.FileSHA256, ".mp4")
	require.NoError(t, err)

	ingest := e.start("ingest")
	e.start("analyzer")
	dl := e.start("downloader")
	msgID := proctest.NewMessageID()
	e.post(ingest, wasim.InstancePro, wasim.Webhook(wasim.EventReceived, wasim.WebhookOptions{
		InstanceID: wasim.InstancePro, MessageID: msgID, Media: it,
	}))

	var part string
	proctest.Poll(t, 30*time.Second, "a temporary file of 2 MiB", func() bool {
		for rel, n := range e.files() {
			if isTemp(rel) && n >= 2<<20 {
				part = rel
				return true
			}
		}
		return false
	})
	require.Equal(t, -1, dl.Stop(syscall.SIGKILL, 10*time.Second), "killed by the signal")

	files := e.files()
	require.Contains(t, files, part, "the killed process's temporary file is still there")
	require.Less(t, files[part], it.BlobLength)
	require.NotContains(t, files, final, "nothing under the final path")
	require.Len(t, files, 1)
	require.Equal(t, "downloading", e.rows(wasim.InstancePro, []string{msgID})[msgID].Status)

	e.start("downloader")
	proctest.Poll(t, 10*time.Second, "the orphaned temporary file removed by the new downloader", func() bool {
		_, ok := e.files()[part]
		return !ok
	})
	if testing.Short() {
		code, out := e.run("reprocess", "--status", "downloading")
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "reset 1 rows to pending and queued 1 download jobs")
	}
	var r row
	proctest.Poll(t, 90*time.Second, "the item stored after the restart", func() bool {
		r = e.rows(wasim.InstancePro, []string{msgID})[msgID]
		return r.Status != "downloading" && r.Status != "pending"
	})
	require.Equal(t, "success", r.Status, r.Reason)
	require.Equal(t, final, r.Path)
	require.Equal(t, it.FileLength, r.Size)
	require.Equal(t, map[string]int64{final: it.FileLength}, e.files(), "one file, no temporary file")
	f, err := os.Open(filepath.Join(e.media, filepath.FromSlash(final)))
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	require.Equal(t, it.FileSHA256, h.Sum(nil), "exact content")
	require.EqualValues(t, 2, it.Requests(), "the killed attempt and the one that completed")
	require.Equal(t, 2, r.Attempts)
}
