package cli_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// TestStatsCommand runs stats on both media stores: the disk use is what
// the store holds (a file no row refers to counts too), per cliente or all.
func TestStatsCommand(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testStatsCommand(t, b.open(t))
		})
	}
}

func testStatsCommand(t *testing.T, mb mediaBackend) {
	store, u := pgtest.NewStore(t)
	ctx := context.Background()
	ten, err := operator.New(store).Register(ctx, "acme", "3B6XIW-ZTS923-GEAY6V", "t")
	require.NoError(t, err)
	img := wamedia.Descriptor{Type: wamedia.Image, Kind: "imageMessage"}
	img.Check() // not downloadable: a failed row with missing_fields
	_, err = store.RecordMessages(ctx, []catalog.Message{{InstanceID: "3B6XIW-ZTS923-GEAY6V", MessageID: "M1", ChatRemoteID: "5511", Media: []wamedia.Descriptor{img}}})
	require.NoError(t, err)
	env := withEnv(mb.env, map[string]string{"DATABASE_URL": u})
	putFile(t, mb.files, ten.ClienteID, []byte("twelve bytes"), ".jpg")
	putFile(t, mb.files, ten.ClienteID+1, []byte("another cliente's"), ".pdf")
	mb.age(t) // a leftover is not a stored file

	code, out, errOut := runWithEnv(t, env, "", "stats")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "media (all clientes)")
	require.Contains(t, out, "missing_fields")
	require.Regexp(t, `disk used +29 B in 2 files`, out)

	code, out, errOut = runWithEnv(t, env, "", "stats", "--json", "--cliente", itoa(ten.ClienteID))
	require.Equal(t, cli.ExitOK, code, errOut)
	var got struct {
		Total      int64            `json:"total"`
		ByStatus   map[string]int64 `json:"byStatus"`
		DiskBytes  int64            `json:"diskBytes"`
		StoreFiles int64            `json:"storeFiles"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.EqualValues(t, 1, got.Total)
	require.EqualValues(t, 12, got.DiskBytes)
	require.EqualValues(t, 1, got.StoreFiles)
	require.EqualValues(t, 1, got.ByStatus["failed"])

	code, _, _ = runWithEnv(t, env, "", "stats", "extra")
	require.Equal(t, cli.ExitUsage, code)
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
