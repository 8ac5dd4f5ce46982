package cli_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/demo"
	"github.com/multichat/mediapipe/internal/pgtest"
)

// TestDemoCommand runs `mediapipe demo` and checks it kept to its own world:
// the database DATABASE_URL names is never created nor touched, MEDIA_DIR
// stays empty, and the demo's database and files are where it says.
func TestDemoCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin, err := pgx.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	b := make([]byte, 6)
	rand.Read(b)
	name := "clitest_" + hex.EncodeToString(b) // the "real" database: never created
	conn, err := pgx.ConnectConfig(ctx, admin)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{demo.DemoDatabase(name)}.Sanitize()+" WITH (FORCE)")
		require.NoError(t, err)
		conn.Close(context.Background())
	})
	u := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", admin.User, admin.Host, admin.Port, name)
	dir, media := t.TempDir(), t.TempDir()
	env := map[string]string{"DATABASE_URL": u, "DATA_DIR": dir, "MEDIA_DIR": media, "NATS_URL": "nats://127.0.0.1:1"}

	for run := range 2 {
		code, out, errOut := runWithEnv(t, env, "", "demo", "--webhooks", "30", "--faults=false")
		require.Equal(t, cli.ExitOK, code, "run %d: %s", run, errOut)
		require.Contains(t, out, "/"+name+"_demo?sslmode=disable (the demo's own, emptied first)")
		require.Contains(t, out, filepath.Join(dir, "demo", "media")+" (the demo's own, emptied first)")
		require.Contains(t, out, "store under "+filepath.Join(dir, "demo", "nats"))
		require.Contains(t, out, "Files are under "+filepath.Join(dir, "demo", "media"))
	}
	var exists bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists))
	require.False(t, exists, "the configured database is never created by the demo")
	require.NoError(t, conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name+"_demo").Scan(&exists))
	require.True(t, exists)
	entries, err := os.ReadDir(media)
	require.NoError(t, err)
	require.Empty(t, entries, "MEDIA_DIR is not the demo's")
	_, err = os.Stat(filepath.Join(dir, "media"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
