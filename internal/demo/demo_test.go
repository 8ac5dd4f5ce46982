package demo_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/multichat/mediapipe/internal/app"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/demo"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/s3test"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

type row struct {
	status, reason, path, mimetype string
	size                           int64
}

// testConfig is the configuration of a test's demo run: a schema of its
// own and a temporary DATA_DIR.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	_, url := pgtest.NewStore(t)
	dir := t.TempDir()
	cfg, errs := config.Load(func(k string) string {
		switch k {
		case "DATABASE_URL":
			return url
		case "DATA_DIR":
			return dir
		}
		return ""
	})
	require.Empty(t, errs)
	return cfg
}

// TestPipelineEndToEnd posts a realistic batch through the real ingest, the
// embedded JetStream, the analyzer and the downloader against the simulator,
// and checks every media item's final row and file.
func TestPipelineEndToEnd(t *testing.T) {
	cfg := testConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rows := map[string]row{}
	plain := map[string][]byte{} // by simulator item id, read while the simulator runs
	rep, err := demo.Run(ctx, cfg, zaptest.NewLogger(t), demo.Options{
		Webhooks: 200, Faults: true, Timeout: 2 * time.Minute,
		Hold: func(ctx context.Context, a *app.App, sim *wasim.Server) error {
			for _, it := range sim.Items() {
				f, err := it.OpenPlain()
				if err != nil {
					return err
				}
				plain[it.ID], err = io.ReadAll(f)
				f.Close()
				if err != nil {
					return err
				}
			}
			r, err := pgtest.Pool(t, a.Cfg.DatabaseURL).Query(ctx, `SELECT instance_id, message_id, download_status,
				coalesce(failure_reason,''), coalesce(file_path,''), coalesce(mimetype,''), coalesce(file_size,0) FROM media_files`)
			if err != nil {
				return err
			}
			defer r.Close()
			for r.Next() {
				var inst, msg string
				var x row
				if err := r.Scan(&inst, &msg, &x.status, &x.reason, &x.path, &x.mimetype, &x.size); err != nil {
					return err
				}
				rows[inst+"/"+msg] = x
			}
			return r.Err()
		},
	})
	require.NoError(t, err)
	require.False(t, rep.Incomplete, "every media item settles")
	require.EqualValues(t, rep.Media, rep.Summary.Total, "exactly one row per media item, duplicates included")
	require.Equal(t, rep.Posted.Sent, rep.Posted.ByStatus[202], "every webhook accepted: %v", rep.Posted.ByStatus)

	checked := map[string]bool{}
	for _, h := range rep.Hooks {
		if h.Item == nil {
			continue
		}
		r, ok := rows[h.InstanceID+"/"+h.MessageID]
		require.True(t, ok, "row for %s %s", h.Provider, h.MessageID)
		s := h.Item.Sample
		faults := h.Item.Faults()
		expired := len(faults) > 0 && faults[0].Kind == wasim.FaultExpired
		switch {
		case s.Hostile:
			require.Equal(t, "failed", r.status, s.Name)
			require.Equal(t, "type_mismatch", r.reason, s.Name)
			require.Empty(t, r.path, "nothing unverified is stored")
		case expired && s.Name == samples.DocumentPDF && (h.Provider == "" || h.Provider == wasim.ProviderWAPI),
			expired && (h.Provider == wasim.ProviderWAHA || h.Provider == wasim.ProviderZAPI || h.Provider == wasim.ProviderMeta):
			// W-API: the CDN gone and the fallback gone too; WAHA, Z-API
			// and Meta: the provider's own file gone (Evolution has the
			// phone upload it again).
			require.Equal(t, "expired", r.status, "%s %s", h.Provider, s.Name)
			require.Equal(t, "expired", r.reason)
		default:
			require.Equal(t, "success", r.status, "%s (faults %v): reason %s", s.Name, faults, r.reason)
			f, err := os.Open(filepath.Join(rep.MediaDir, r.path))
			require.NoError(t, err)
			got, err := io.ReadAll(f)
			f.Close()
			require.NoError(t, err)
			want := plain[h.Item.ID]
			require.NotEmpty(t, want)
			require.True(t, bytes.Equal(want, got), "%s: the stored file is the exact plain media", s.Name)
			require.Equal(t, s.Sniffed, r.mimetype, s.Name)
			checked[s.Name] = true
		}
	}
	for _, s := range samples.Benign() {
		require.True(t, checked[s.Name], "sample %s reached success at least once", s.Name)
	}
	// No temporary file is left behind.
	_ = filepath.WalkDir(rep.MediaDir, func(p string, d os.DirEntry, err error) error {
		require.NoError(t, err)
		if !d.IsDir() {
			require.NotContains(t, filepath.Base(p), ".part", "temporary file left: %s", p)
		}
		return nil
	})
}

// TestDemoOnS3 is `demo --store s3://media/demo`: the demo runs on an S3
// store (the SDK's AWS_* variables point at a versitygw), every stored
// row's object holds the bytes the row's SHA-256 names, no upload is left
// behind, and no file lands on the local disk.
func TestDemoOnS3(t *testing.T) {
	srv := s3test.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg := testConfig(t)
	cfg.MediaStore = "s3://" + srv.Bucket + "/demo"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stored int
	rep, err := demo.Run(ctx, cfg, zaptest.NewLogger(t), demo.Options{
		Webhooks: 80, Faults: true, Timeout: 2 * time.Minute, Reset: true,
		Hold: func(ctx context.Context, a *app.App, _ *wasim.Server) error {
			r, err := pgtest.Pool(t, a.Cfg.DatabaseURL).Query(ctx,
				`SELECT file_path, file_sha256 FROM media_files WHERE download_status = 'success'`)
			if err != nil {
				return err
			}
			defer r.Close()
			for r.Next() {
				var path string
				var sum []byte
				if err := r.Scan(&path, &sum); err != nil {
					return err
				}
				key := "demo/" + path
				obj, err := srv.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.Bucket, Key: &key})
				require.NoError(t, err, key)
				h := sha256.New()
				_, err = io.Copy(h, obj.Body)
				obj.Body.Close()
				require.NoError(t, err)
				require.Equal(t, sum, h.Sum(nil), key)
				stored++
			}
			if err := r.Err(); err != nil {
				return err
			}
			left, err := a.Blobs.Leftovers()
			require.NoError(t, err)
			require.Empty(t, left, "no upload left behind")
			return nil
		},
	})
	require.NoError(t, err)
	require.False(t, rep.Incomplete)
	require.Equal(t, cfg.MediaStore, rep.MediaStore)
	require.Positive(t, stored)
	_, err = os.Stat(cfg.MediaDir)
	require.ErrorIs(t, err, os.ErrNotExist, "nothing on the local disk")
}
