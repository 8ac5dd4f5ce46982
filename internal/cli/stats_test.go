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

func TestStatsCommand(t *testing.T) {
	t.Parallel()
	store, u := pgtest.NewStore(t)
	ctx := context.Background()
	ten, err := operator.New(store).Register(ctx, "acme", "3B6XIW-ZTS923-GEAY6V", "t")
	require.NoError(t, err)
	img := wamedia.Descriptor{Type: wamedia.Image, Kind: "imageMessage"}
	img.Check() // not downloadable: a failed row with missing_fields
	_, err = store.RecordMessages(ctx, []catalog.Message{{InstanceID: "3B6XIW-ZTS923-GEAY6V", MessageID: "M1", ChatRemoteID: "5511", Media: []wamedia.Descriptor{img}}})
	require.NoError(t, err)
	env := map[string]string{"DATABASE_URL": u}

	code, out, errOut := runWithEnv(t, env, "", "stats")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "media (all clientes)")
	require.Contains(t, out, "missing_fields")

	code, out, errOut = runWithEnv(t, env, "", "stats", "--json", "--cliente", itoa(ten.ClienteID))
	require.Equal(t, cli.ExitOK, code, errOut)
	var got struct {
		Total    int64            `json:"total"`
		ByStatus map[string]int64 `json:"byStatus"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.EqualValues(t, 1, got.Total)
	require.EqualValues(t, 1, got.ByStatus["failed"])

	code, _, _ = runWithEnv(t, env, "", "stats", "extra")
	require.Equal(t, cli.ExitUsage, code)
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
