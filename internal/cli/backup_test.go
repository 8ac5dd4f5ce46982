package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func TestExportImportCommands(t *testing.T) {
	t.Parallel()
	store, u := pgtest.NewStore(t)
	ctx := context.Background()
	_, err := operator.New(store).Register(ctx, "acme", "3B6XIW-ZTS923-GEAY6V", "secret-wapi")
	require.NoError(t, err)
	globex, err := operator.New(store).Register(ctx, "globex", "GLOBEX-1", "secret-globex")
	require.NoError(t, err)
	img := wamedia.Descriptor{Type: wamedia.Image, Kind: "imageMessage", MediaKey: []byte("0123456789abcdef0123456789abcdef")}
	img.Check()
	_, err = store.RecordMessages(ctx, []catalog.Message{
		{InstanceID: "3B6XIW-ZTS923-GEAY6V", MessageID: "M1", ChatRemoteID: "5511", Media: []wamedia.Descriptor{img, img}},
		{InstanceID: "GLOBEX-1", MessageID: "M2", ChatRemoteID: "5522", Media: []wamedia.Descriptor{img}},
	})
	require.NoError(t, err)
	env := map[string]string{"DATABASE_URL": u}

	// Without secrets, to standard output.
	code, out, errOut := runWithEnv(t, env, "", "export")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, errOut, "exported 2 clientes, 2 instances, 2 chats and 3 media rows to standard output")
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 9)
	require.NotContains(t, out, "secret-")
	require.NotContains(t, out, `"media_key":`)

	// With secrets, one cliente, into a file only its owner reads.
	file := filepath.Join(t.TempDir(), "globex.jsonl")
	code, out, errOut = runWithEnv(t, env, "", "export", "--include-secrets", "--cliente", itoa(globex.ClienteID), "--out", file)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Empty(t, out)
	require.Contains(t, errOut, "exported 1 clientes, 1 instances, 1 chats and 1 media rows to "+file)
	require.Contains(t, errOut, "holds secrets")
	fi, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Contains(t, string(data), "secret-globex")
	require.Contains(t, string(data), `"media_key":`)

	// Into a database that has no schema yet: import creates it.
	code, backup, errOut := runWithEnv(t, env, "", "export", "--include-secrets")
	require.Equal(t, cli.ExitOK, code, errOut)
	target := map[string]string{"DATABASE_URL": pgtest.NewSchema(t), "MEDIA_DIR": t.TempDir()}
	code, out, errOut = runWithEnv(t, target, backup, "import")
	require.Equal(t, cli.ExitOK, code, errOut)
	requireRow(t, out, "cliente", 2, 0, 0)
	requireRow(t, out, "instance", 2, 0, 0)
	requireRow(t, out, "chat", 2, 0, 0)
	requireRow(t, out, "media", 3, 0, 0)

	// Again, from the file: nothing new.
	code, out, errOut = runWithEnv(t, target, "", "import", file)
	require.Equal(t, cli.ExitOK, code, errOut)
	requireRow(t, out, "cliente", 0, 1, 0)
	requireRow(t, out, "media", 0, 1, 0)
	code, out, errOut = runWithEnv(t, target, backup, "import", "-")
	require.Equal(t, cli.ExitOK, code, errOut)
	requireRow(t, out, "media", 0, 3, 0)
	code, again, errOut := runWithEnv(t, target, "", "export", "--include-secrets")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.ElementsMatch(t, strings.Split(backup, "\n"), strings.Split(again, "\n"))

	// Bad lines are reported by number; the good ones are imported.
	bad := "{\"kind\":\"cliente\",\"name\":\"initech\"}\nnot json\n{\"kind\":\"chat\",\"cliente\":\"initech\",\"instance_id\":\"NOPE\",\"remote_id\":\"1\"}\n"
	code, out, errOut = runWithEnv(t, target, bad, "import")
	require.Equal(t, cli.ExitFailure, code)
	requireRow(t, out, "cliente", 1, 0, 0)
	requireRow(t, out, "chat", 0, 0, 1)
	require.Contains(t, out, "unreadable")
	require.Contains(t, errOut, "line 2: not a JSON object")
	require.Contains(t, errOut, "line 3: chat: its instance is not in the catalogue")
	require.Contains(t, errOut, "2 of 3 lines were not imported")

	code, _, _ = runWithEnv(t, target, "", "import", "a", "b")
	require.Equal(t, cli.ExitUsage, code)
	code, _, _ = runWithEnv(t, target, "", "import", filepath.Join(t.TempDir(), "missing.jsonl"))
	require.Equal(t, cli.ExitFailure, code)
}

// requireRow checks one kind's line of import's table.
func requireRow(t *testing.T, out, kind string, inserted, present, bad int) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + kind + `\s+(\d+)\s+(\d+)\s+(\d+)$`)
	m := re.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	require.Equal(t, []string{itoa(int64(inserted)), itoa(int64(present)), itoa(int64(bad))}, m[1:], out)
}

// TestImportLooksUpFiles: on both media stores, import counts the media
// rows whose file the store does not hold, and imports them all the same.
func TestImportLooksUpFiles(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			mb := b.open(t)
			store, u := pgtest.NewStore(t)
			ctx := context.Background()
			ten, err := operator.New(store).Register(ctx, "acme", "3B6XIW-ZTS923-GEAY6V", "t")
			require.NoError(t, err)
			storedRows(t, store, mb.files, ten.ClienteID, ten.InstanceID, "a photo still stored", 1, "M1")
			gone := storedRows(t, store, mb.files, ten.ClienteID, ten.InstanceID, "a photo lost", 1, "M2")
			require.NoError(t, mb.files.Remove(gone))
			code, backup, errOut := runWithEnv(t, map[string]string{"DATABASE_URL": u}, "", "export")
			require.Equal(t, cli.ExitOK, code, errOut)

			target := withEnv(mb.env, map[string]string{"DATABASE_URL": pgtest.NewSchema(t)})
			code, out, errOut := runWithEnv(t, target, backup, "import")
			require.Equal(t, cli.ExitOK, code, errOut)
			requireRow(t, out, "media", 2, 0, 0)
			require.Contains(t, out, "1 media rows refer to files the media store (MEDIA_STORE) does not hold")
		})
	}
}
