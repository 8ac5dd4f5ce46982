// Package pgtest gives tests a real PostgreSQL: the server named by
// TEST_DATABASE_URL, or else a throwaway container when a Docker engine
// answers. Each test gets a schema of its own (NewSchema, NewStore), so tests
// run in parallel against one database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/multichat/mediapipe/internal/catalog"
)

// Image is the PostgreSQL image started when TEST_DATABASE_URL is unset.
const Image = "postgres:16-alpine"

var container struct {
	once sync.Once
	url  string
	err  string // why there is no container
}

// URL returns the URL of a PostgreSQL database for tests: TEST_DATABASE_URL,
// else a container shared by the package's tests (removed by testcontainers'
// reaper when the test binary exits). Without either, the test is skipped,
// or fails when CI=true.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	container.once.Do(startContainer)
	if container.url != "" {
		return container.url
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no PostgreSQL for tests: TEST_DATABASE_URL is unset and %s", container.err)
	}
	t.Skip("set TEST_DATABASE_URL=postgres://... to run PostgreSQL tests (" + container.err + ")")
	return ""
}

func startContainer() {
	if !dockerAnswers() {
		container.err = "no Docker engine answers"
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := tcpostgres.Run(ctx, Image,
		tcpostgres.WithDatabase("mediapipe_test"),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		tcpostgres.BasicWaitStrategies(),
	)
	if err != nil {
		container.err = "starting a PostgreSQL container: " + err.Error()
		return
	}
	u, err := c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		container.err = "reading the container's address: " + err.Error()
		return
	}
	container.url = u
}

// dockerAnswers reports, within a few seconds, whether a Docker engine
// answers. testcontainers panics in some setups without one.
func dockerAnswers() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return p.Health(ctx) == nil // Health closes p
}

// NewSchema creates an empty schema with a unique name in the test database
// and returns a URL whose connections use it (search_path); the schema is
// dropped when the test ends.
func NewSchema(t testing.TB) string {
	t.Helper()
	base := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "test_" + hex.EncodeToString(b)

	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to the test database: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connecting to drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})

	return withSearchPath(t, base, schema)
}

// withSearchPath returns base (a URL or a key=value connection string) with
// search_path set to schema.
func withSearchPath(t testing.TB, base, schema string) string {
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return base + " search_path=" + schema
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parsing the test database URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// NewStore returns a store over a fresh, migrated schema (see NewSchema) and
// that schema's URL. The store is closed when the test ends.
func NewStore(t testing.TB) (*catalog.Store, string) {
	t.Helper()
	u := NewSchema(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, _, err := catalog.Migrate(ctx, u); err != nil {
		t.Fatalf("migrating test schema: %v", err)
	}
	s, err := catalog.Open(ctx, u)
	if err != nil {
		t.Fatalf("opening test store: %v", err)
	}
	t.Cleanup(s.Close)
	Register(t, s, u)
	return s, u
}

// Register tells DB the URL of a store the test opened itself (on a schema
// it prepared by hand), until the test ends.
func Register(t testing.TB, store *catalog.Store, url string) {
	stores.Store(store, url)
	t.Cleanup(func() { stores.Delete(store) })
}

// stores maps the stores NewStore made to their URLs, for DB.
var stores sync.Map // *catalog.Store → string

// DB returns a pool of its own on the schema of store, a store NewStore
// made or Register was told of, for tests that read or arrange rows with SQL: the catalogue keeps
// its pool to itself. The pool is closed when the test ends.
func DB(t testing.TB, store *catalog.Store) *pgxpool.Pool {
	t.Helper()
	u, ok := stores.Load(store)
	if !ok {
		t.Fatal("pgtest.DB: the store was not made by pgtest.NewStore nor registered (pgtest.Register)")
	}
	return Pool(t, u.(string))
}

// Pool returns a pool on the database at url (a schema's URL from
// NewSchema or NewStore), for tests that read or arrange rows with SQL.
// Pools are shared per URL within a test and closed when it ends.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	key := poolKey{t, url}
	if p, ok := pools.Load(key); ok {
		return p.(*pgxpool.Pool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("pgtest.Pool: %v", err)
	}
	if prev, loaded := pools.LoadOrStore(key, p); loaded {
		p.Close()
		return prev.(*pgxpool.Pool)
	}
	t.Cleanup(func() {
		pools.Delete(key)
		p.Close()
	})
	return p
}

type poolKey struct {
	t   testing.TB
	url string
}

var pools sync.Map // poolKey → *pgxpool.Pool
