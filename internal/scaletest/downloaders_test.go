package scaletest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

// TestDownloadsSplitAcrossDownloaders runs the scaled deployment as separate
// processes — one `mediapipe ingest`, one `mediapipe analyzer` and three
// `mediapipe downloader` — on one JetStream server, one PostgreSQL schema
// and one shared media directory, posts a batch of webhooks (each media
// item with distinct content, W-API resends among them) and shows that:
//
//   - the downloads are split across all three downloaders (each stored
//     some, counted from its own log and its /metrics);
//   - no job ran twice: every media id was stored by exactly one process,
//     every blob was fetched from the CDN exactly once, there is one row per
//     message and one file per content, with no temporary file left;
//   - a downloader drained with SIGTERM mid-run (a scale-in) exits 0 and
//     the others finish the batch.
func TestDownloadsSplitAcrossDownloaders(t *testing.T) {
	t.Parallel()
	natsURL, _ := natstest.Start(t)
	d := newDeployment(t, natsURL, nil)

	// Distinct content per message: each sample with a few trailing bytes
	// that the formats ignore, so that no download is deduplicated away.
	// Each fetch takes a while, so the work is spread while it lasts.
	const variants = 20
	kinds := []string{samples.ImageJPEG, samples.ImagePNG, samples.AudioVoice, samples.VideoMP4, samples.DocumentPDF}
	var items []*wasim.Item
	for v := range variants {
		for _, name := range kinds {
			s := samples.ByName(name)
			s.Data = append(append([]byte(nil), s.Data...), fmt.Sprintf("\n%%scaletest variant %d\n", v)...)
			it, err := d.sim.AddSample(s, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultLatency, Delay: 60 * time.Millisecond}))
			require.NoError(t, err)
			items = append(items, it)
		}
	}

	ingest := d.start("ingest", "ingest", nil)
	d.start("analyzer", "analyzer", nil)
	var dls []*proctest.Proc
	for i := range 3 {
		// Debug logs carry one "media stored" line per stored item.
		dls = append(dls, d.start(fmt.Sprintf("downloader-%d", i+1), "downloader",
			map[string]string{"DOWNLOAD_WORKERS": "2", "LOG_LEVEL": "debug"}))
	}

	instances := []string{wasim.InstancePro, wasim.InstanceLite}
	type msg struct{ instance, id string }
	want := map[msg]*wasim.Item{}
	var hooks []wasim.Hook
	for i, it := range items {
		m := msg{instances[i%2], proctest.NewMessageID()}
		want[m] = it
		h := wasim.Hook{Event: wasim.EventReceived, Content: wasim.ContentMedia, InstanceID: m.instance, MessageID: m.id, Item: it,
			Body: wasim.Webhook(wasim.EventReceived, wasim.WebhookOptions{InstanceID: m.instance, MessageID: m.id, Media: it})}
		hooks = append(hooks, h)
		if i%10 == 3 { // W-API resends some webhooks: the same body again
			h.Duplicate = true
			hooks = append(hooks, h)
		}
	}
	dups := len(hooks) - len(items)
	poster := &wasim.Poster{Target: "http://" + ingest.Addr + "/webhooks/wapi", Secrets: d.secrets, Concurrency: 8}
	res, err := poster.Post(context.Background(), hooks)
	require.NoError(t, err)
	require.Equal(t, len(hooks), res.ByStatus[202], "every webhook accepted: %s", res)

	stored := func(p *proctest.Proc) []int64 {
		var ids []int64
		for _, e := range p.LogEntries("media stored") {
			id, ok := e["media_id"].(float64)
			require.True(t, ok, "media stored without media_id: %v", e)
			ids = append(ids, int64(id))
		}
		return ids
	}
	succeeded := func() (n int) {
		require.NoError(t, pgtest.DB(t, d.store).QueryRow(context.Background(),
			`SELECT count(*) FROM media_files WHERE download_status = 'success'`).Scan(&n))
		return n
	}

	// Scale in while work remains: drain the third downloader once every
	// downloader has stored something and a third of the batch is done.
	poll(t, 60*time.Second, "every downloader stored something", func() bool {
		for _, p := range dls {
			if len(stored(p)) == 0 {
				return false
			}
		}
		return succeeded() >= len(items)/3
	})
	drainedMidRun := succeeded() < len(items)
	require.Equal(t, 0, dls[2].Stop(syscall.SIGTERM, 60*time.Second), "a drained downloader exits 0")

	poll(t, 90*time.Second, "every media item stored", func() bool { return succeeded() == len(items) })

	// One row per message, each stored, each with its exact content.
	rows, err := pgtest.DB(t, d.store).Query(context.Background(), `
		SELECT id, instance_id, message_id, download_status, coalesce(failure_reason, ''), coalesce(file_path, ''), coalesce(file_size, 0)
		FROM media_files`)
	require.NoError(t, err)
	ids := map[int64]bool{}
	paths := map[string]bool{}
	seen := map[msg]bool{}
	for rows.Next() {
		var (
			id                   int64
			m                    msg
			status, reason, path string
			size                 int64
		)
		require.NoError(t, rows.Scan(&id, &m.instance, &m.id, &status, &reason, &path, &size))
		it := want[m]
		require.NotNil(t, it, "a row for a message that was not sent: %v", m)
		require.False(t, seen[m], "one row per message: %v", m)
		seen[m] = true
		require.Equal(t, "success", status, "%s: %s", it.Sample.Name, reason)
		require.Equal(t, it.FileLength, size)
		ids[id], paths[path] = true, true
		f, err := os.Open(filepath.Join(d.media, filepath.FromSlash(path)))
		require.NoError(t, err)
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		require.NoError(t, err)
		require.Equal(t, it.FileSHA256, h.Sum(nil), "stored content of %s", path)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	require.Len(t, seen, len(items), "a row for every message")
	require.Len(t, paths, len(items), "one file per distinct content")
	files := d.files()
	require.Len(t, files, len(items), "no other file (no temporary file) in the media directory")
	for rel := range files {
		require.True(t, paths[rel], "file without a row: %s", rel)
	}
	for _, it := range items {
		require.EqualValues(t, 1, it.Requests(), "%s fetched exactly once across all downloaders", it.Sample.Name)
	}

	// The split: each downloader stored some; together every media id once.
	by := map[int64]string{}
	var counts []string
	for _, p := range dls {
		mine := stored(p)
		require.NotEmpty(t, mine, "%s did some of the work", p.Name)
		counts = append(counts, fmt.Sprintf("%s=%d", p.Name, len(mine)))
		for _, id := range mine {
			require.Empty(t, by[id], "media %d stored by %s and %s", id, by[id], p.Name)
			by[id] = p.Name
			require.True(t, ids[id], "media %d stored but has no row", id)
		}
	}
	require.Len(t, by, len(items), "every media id stored by exactly one downloader")
	for _, p := range dls[:2] { // the running ones agree with their metrics
		require.EqualValues(t, len(stored(p)), p.Metric("mediapipe_downloads_total", `outcome="success",provider="wapi"`), p.Name)
	}
	require.EqualValues(t, len(items), ingest.Metric("mediapipe_webhooks_total", `outcome="accepted",provider="wapi"`))
	require.EqualValues(t, dups, ingest.Metric("mediapipe_webhooks_total", `outcome="duplicate",provider="wapi"`))

	for _, p := range append([]*proctest.Proc{ingest}, dls[:2]...) {
		require.Equal(t, 0, p.Stop(syscall.SIGTERM, 60*time.Second), "%s stops cleanly", p.Name)
	}
	t.Logf("%d webhooks (%d resends), %d media items; downloads split %s; drained downloader-3 mid-run: %v",
		len(hooks), dups, len(items), strings.Join(counts, " "), drainedMidRun)
}
