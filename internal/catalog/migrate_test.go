package catalog_test

import (
	"context"
	"encoding/hex"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/migrations"
)

func TestMigrate_ConcurrentAndIdempotent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u := pgtest.NewSchema(t)
	files, err := fs.Glob(migrations.FS, "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)

	// Four processes starting at once on a fresh schema: one applies every
	// migration, the others wait for it and find nothing to do.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		applied  []string
		versions []int64
		errs     []error
	)
	for range 4 {
		wg.Go(func() {
			a, v, err := catalog.Migrate(ctx, u)
			mu.Lock()
			defer mu.Unlock()
			for _, m := range a {
				applied = append(applied, m.Name)
			}
			versions = append(versions, v)
			errs = append(errs, err)
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.ElementsMatch(t, files, applied, "each migration applied exactly once")
	last := versions[0]
	require.Positive(t, last)
	for _, v := range versions {
		require.Equal(t, last, v)
	}

	a, v, err := catalog.Migrate(ctx, u)
	require.NoError(t, err)
	require.Empty(t, a)
	require.Equal(t, last, v)

	// Everything landed in the test's schema, nothing in public.
	conn, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var schema string
	require.NoError(t, conn.QueryRow(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = 'media_files' AND table_schema = current_schema()`).Scan(&schema))
	require.True(t, strings.HasPrefix(schema, "test_"), schema)
}

func TestEnsureDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := pgtest.URL(t)
	if !strings.HasPrefix(base, "postgres") {
		t.Skip("TEST_DATABASE_URL is not a URL")
	}

	created, err := catalog.EnsureDatabase(ctx, base)
	require.NoError(t, err)
	require.False(t, created, "the test database exists")

	u, err := url.Parse(base)
	require.NoError(t, err)
	name := "mediapipe_ensure_" + hex.EncodeToString(randomBytes(6))
	u.Path = "/" + name
	created, err = catalog.EnsureDatabase(ctx, u.String())
	if err != nil && strings.Contains(err.Error(), "may not create it") {
		t.Skipf("the test role may not create databases: %v", err)
	}
	require.NoError(t, err)
	require.True(t, created)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		_, err = conn.Exec(context.Background(), "DROP DATABASE "+name)
		require.NoError(t, err)
	})

	created, err = catalog.EnsureDatabase(ctx, u.String())
	require.NoError(t, err)
	require.False(t, created)
}
