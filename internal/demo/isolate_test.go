package demo_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/multichat/mediapipe/internal/app"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/demo"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/wasim"
)

// TestIsolate checks that the demo's world is never the default one: its
// own database on the same server, its own folders, its own NATS server.
func TestIsolate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"postgres://127.0.0.1:5432/mediapipe?sslmode=disable", "postgres://127.0.0.1:5432/mediapipe_demo?sslmode=disable"},
		{"postgresql://alice:s3cret@db.internal/catalogue?sslmode=require&search_path=x", "postgresql://alice:s3cret@db.internal/catalogue_demo?sslmode=require&search_path=x"},
		{"postgres://db/mediapipe_demo", "postgres://db/mediapipe_demo"},
		{"postgres://db", "postgres://db/mediapipe_demo"},
		{"postgres://db/", "postgres://db/mediapipe_demo"},
		{"postgres://db/" + strings.Repeat("x", 70), "postgres://db/" + strings.Repeat("x", 58) + "_demo"},
	} {
		cfg := config.Config{DatabaseURL: tc.url, DataDir: "/var/lib/mediapipe", MediaDir: "/srv/media",
			NATSURL: "nats://nats:4222", NATSUser: "u", NATSPassword: "p", NATSCreds: "/x.creds"}
		got, err := demo.Isolate(cfg)
		require.NoError(t, err, tc.url)
		require.Equal(t, tc.want, got.DatabaseURL, tc.url)
		require.Equal(t, "/var/lib/mediapipe/demo", got.DataDir)
		require.Equal(t, "/var/lib/mediapipe/demo/media", got.MediaDir)
		require.Equal(t, "file:///var/lib/mediapipe/demo/media", got.MediaStore, "the demo's files in its own folder, whatever MEDIA_STORE says")
		require.Empty(t, got.NATSURL+got.NATSUser+got.NATSPassword+got.NATSCreds, "the demo runs its own embedded NATS server")
	}
	_, err := demo.Isolate(config.Config{DatabaseURL: "mysql://db/x"})
	require.Error(t, err)
}

// TestDemoInstancesInNoDocument: a user who ran the demo can follow every
// example of the documentation and the help texts, as no example uses the
// demo's instance ids (they live in the demo's own database anyway).
func TestDemoInstancesInNoDocument(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	cli, err := filepath.Glob("../cli/*.go")
	require.NoError(t, err)
	require.NotEmpty(t, cli)
	files = append(append(files, "../../README.md"), cli...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, id := range []string{demo.InstancePro, demo.InstanceLite} {
			require.NotContains(t, strings.ToUpper(string(b)), id, "%s names the demo's instance %s", f, id)
		}
	}
}

// TestRunResets runs the demo twice on one world: the second run starts
// from an empty catalogue and media folder, so its figures are its own.
func TestRunResets(t *testing.T) {
	cfg := testConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var media, clientes int
	run := func() *demo.Report {
		rep, err := demo.Run(ctx, cfg, zaptest.NewLogger(t), demo.Options{
			Webhooks: 40, Faults: false, Timeout: 2 * time.Minute, Reset: true,
			// Read the counts while the pipeline still runs.
			Hold: func(ctx context.Context, a *app.App, _ *wasim.Server) error {
				return pgtest.Pool(t, a.Cfg.DatabaseURL).QueryRow(ctx, `SELECT (SELECT count(*) FROM media_files), (SELECT count(*) FROM clientes)`).Scan(&media, &clientes)
			},
		})
		require.NoError(t, err)
		require.False(t, rep.Incomplete)
		return rep
	}
	first := run()
	require.Equal(t, first.Media, media)
	stray := filepath.Join(first.MediaDir, "stray-file")
	require.NoError(t, os.WriteFile(stray, []byte("from an earlier run"), 0o644))

	second := run()
	require.Equal(t, second.Media, media, "only the second run's rows")
	require.Equal(t, 4, clientes, "the demo's four clientes, once")
	require.EqualValues(t, second.Media, second.Summary.Total)
	_, err := os.Stat(stray)
	require.ErrorIs(t, err, os.ErrNotExist, "the media folder was emptied")
}
