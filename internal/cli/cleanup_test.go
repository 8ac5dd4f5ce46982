package cli_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// storedRows records one image row per message id for the instance, stores
// content in the file store and points every row at it, downloaded daysAgo.
func storedRows(t *testing.T, store *catalog.Store, files blob.Store, clienteID int64, instance, content string, daysAgo int, messageIDs ...string) string {
	t.Helper()
	ctx := context.Background()
	p, err := files.Create(clienteID)
	require.NoError(t, err)
	_, err = p.Write([]byte(content))
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(content))
	st, err := p.Commit(sum[:], ".jpg")
	require.NoError(t, err)
	for _, id := range messageIDs {
		img := wamedia.Descriptor{Type: wamedia.Image, Kind: "imageMessage"}
		img.Check()
		rec, err := store.RecordMessages(ctx, []catalog.Message{{InstanceID: instance, MessageID: id, ChatRemoteID: "5511", Media: []wamedia.Descriptor{img}}})
		require.NoError(t, err)
		require.NoError(t, store.Succeed(ctx, rec[0].MediaID, catalog.Stored{Path: st.Path, Size: st.Size, Mimetype: "image/jpeg", SHA256: sum[:]}))
		_, err = pgtest.DB(t, store).Exec(ctx, `UPDATE media_files SET download_timestamp = now() - make_interval(days => $2) WHERE id = $1`, rec[0].MediaID, daysAgo)
		require.NoError(t, err)
	}
	return st.Path
}

// TestCleanupCommand runs cleanup on both media stores: refcount-safe
// deletes, then the sweep of leftovers older than a day (a .part file, an
// object under .pending/), which a dry run leaves alone.
func TestCleanupCommand(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testCleanupCommand(t, b.open(t))
		})
	}
}

func testCleanupCommand(t *testing.T, mb mediaBackend) {
	store, u := pgtest.NewStore(t)
	ctx := context.Background()
	ten, err := operator.New(store).Register(ctx, "acme", "3B6XIW-ZTS923-GEAY6V", "t")
	require.NoError(t, err)
	files := mb.files
	old := storedRows(t, store, files, ten.ClienteID, ten.InstanceID, "old photo, forwarded twice", 100, "M1", "M2")
	shared := storedRows(t, store, files, ten.ClienteID, ten.InstanceID, "old photo, forwarded again yesterday", 100, "M3")
	storedRows(t, store, files, ten.ClienteID, ten.InstanceID, "old photo, forwarded again yesterday", 1, "M4")
	mb.age(t)
	leftovers := files.(interface{ Leftovers() ([]string, error) })
	left, err := leftovers.Leftovers()
	require.NoError(t, err)
	require.Len(t, left, 1)
	env := withEnv(mb.env, map[string]string{"DATABASE_URL": u})

	code, out, errOut := runWithEnv(t, env, "", "cleanup", "--older-than", "90d", "--dry-run")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "dry run: nothing was changed")
	require.Contains(t, out, "would delete 1 files, freeing 26 B; would mark 2 rows")
	require.Contains(t, out, "kept 1 files that younger rows still use (1 old rows keep them)")
	require.NotContains(t, out, "swept")
	require.True(t, files.Exists(old))
	left, err = leftovers.Leftovers()
	require.NoError(t, err)
	require.Len(t, left, 1, "a dry run sweeps nothing")

	code, out, errOut = runWithEnv(t, env, "", "cleanup", "--older-than", "90d", "--cliente", itoa(ten.ClienteID))
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "deleted 1 files, freeing 26 B; marked 2 rows")
	require.Contains(t, out, "swept 1 leftovers older than a day")
	require.False(t, files.Exists(old))
	require.True(t, files.Exists(shared))
	left, err = leftovers.Leftovers()
	require.NoError(t, err)
	require.Empty(t, left)
	st, err := operator.New(store).Stats(ctx, 0)
	require.NoError(t, err)
	require.EqualValues(t, 4, st.ByStatus["success"], "cleaned rows stay a success")
	require.EqualValues(t, 2*len("old photo, forwarded again yesterday"), st.BytesStored)

	code, out, errOut = runWithEnv(t, env, "", "cleanup", "--older-than", "2000d")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Equal(t, "no stored file older than 2000d\n", out)

	for _, args := range [][]string{
		{"cleanup"},
		{"cleanup", "--older-than", "soon"},
		{"cleanup", "--older-than", "-1d"},
		{"cleanup", "--older-than", "1d", "extra"},
	} {
		code, _, _ = runWithEnv(t, env, "", args...)
		require.Equal(t, cli.ExitUsage, code, args)
	}
}
