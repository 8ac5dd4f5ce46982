package catalog_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// catalogue fills the bundle's store: two clientes, three instances, chats,
// and media in every status, including a deduplicated file, a row being
// downloaded and a row without a chat.
func (b *testBundle) catalogue(t *testing.T) (media int) {
	t.Helper()
	globex, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "globex-wapi-token")
	require.NoError(t, err)
	_, err = b.op.Register(b.ctx, "acme", "ACME-2", "acme-wapi-token-2")
	require.NoError(t, err)

	img := descriptor(wamedia.Image)
	msgs := []catalog.Message{b.message(img), b.message(img), b.message(descriptor(wamedia.Video), descriptor(wamedia.Audio))}
	group := b.message(descriptor(wamedia.Document))
	group.ChatRemoteID, group.ChatJID, group.ChatName, group.IsGroup = "120363025246125888-group", "120363025246125888@g.us", "Família", true
	noChat := b.message(descriptor(wamedia.Sticker))
	noChat.ChatRemoteID = ""
	theirs := b.message(descriptor(wamedia.Image))
	theirs.InstanceID = globex.InstanceID
	incomplete := descriptor(wamedia.Document)
	incomplete.DirectPath, incomplete.URL = "", ""
	incomplete.Check()
	msgs = append(msgs, group, noChat, theirs, b.message(incomplete))
	rec := b.record(t, msgs...)

	path := fmt.Sprintf("%d/%s/%s/%s.jpg", b.clienteID, hex.EncodeToString(img.FileSHA256[:1]), hex.EncodeToString(img.FileSHA256[1:2]), hex.EncodeToString(img.FileSHA256))
	for _, r := range rec[:2] {
		require.NoError(t, b.store.Succeed(b.ctx, r.MediaID, catalog.Stored{Path: path, Size: 4321, Mimetype: "image/jpeg", SHA256: img.FileSHA256}))
	}
	require.NoError(t, b.store.Fail(b.ctx, rec[2].MediaID, catalog.StatusExpired, "expired"))
	_, _, err = b.store.StartDownload(b.ctx, rec[3].MediaID)
	require.NoError(t, err)
	return len(rec)
}

// exportLines exports the store and returns its lines in their order.
func exportLines(t *testing.T, b *testBundle, store *catalog.Store, opts catalog.ExportOptions) ([]string, map[string]int64) {
	t.Helper()
	var buf bytes.Buffer
	counts, err := operator.New(store).Export(b.ctx, &buf, opts)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, int(counts[catalog.KindCliente]+counts[catalog.KindInstance]+counts[catalog.KindChat]+counts[catalog.KindMedia]))
	return lines, counts
}

func importLines(t *testing.T, b *testBundle, store *catalog.Store, lines []string) catalog.ImportResult {
	t.Helper()
	res, err := operator.New(store).Import(b.ctx, strings.NewReader(strings.Join(lines, "\n")+"\n"), catalog.ImportOptions{
		BatchSize: 3,
		Bad:       func(line int64, err error) { t.Errorf("line %d: %v", line, err) },
	})
	require.NoError(t, err)
	return res
}

func TestExportImport_RoundTrip(t *testing.T) {
	b := setup(t)
	media := b.catalogue(t)

	lines, counts := exportLines(t, b, b.store, catalog.ExportOptions{Secrets: true})
	require.Equal(t, map[string]int64{"cliente": 2, "instance": 3, "chat": 3, "media": int64(media)}, counts)

	// A fresh catalogue gets the same clientes ids; every row comes back
	// as it was, apart from the row that was downloading.
	target, _ := pgtest.NewStore(t)
	res := importLines(t, b, target, lines)
	require.Equal(t, map[string]catalog.ImportCounts{
		"cliente": {Inserted: 2}, "instance": {Inserted: 3}, "chat": {Inserted: 3}, "media": {Inserted: int64(media)},
	}, res.ByKind)
	require.Empty(t, res.Moves)
	require.Empty(t, res.NoSecrets)
	again, _ := exportLines(t, b, target, catalog.ExportOptions{Secrets: true})
	onlySource, onlyTarget := difference(lines, again), difference(again, lines)
	require.Len(t, onlySource, 1, "only the downloading row changed")
	require.Len(t, onlyTarget, 1)
	require.Contains(t, onlySource[0], `"download_status":"downloading"`)
	require.Equal(t, strings.Replace(onlySource[0], `"downloading"`, `"pending"`, 1), onlyTarget[0])

	// Secrets made it: the instance still authenticates and downloads.
	job, err := target.LoadDownload(b.ctx, firstMediaID(t, target, "GLOBEX-1"))
	require.NoError(t, err)
	require.Equal(t, "globex-wapi-token", job.WAPIToken)
	require.Len(t, job.Descriptor.MediaKey, 32)
	hashes, err := target.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	source, err := b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Equal(t, source, hashes)

	// Importing again changes nothing.
	res = importLines(t, b, target, lines)
	require.Equal(t, map[string]catalog.ImportCounts{
		"cliente": {Present: 2}, "instance": {Present: 3}, "chat": {Present: 3}, "media": {Present: int64(media)},
	}, res.ByKind)
	third, _ := exportLines(t, b, target, catalog.ExportOptions{Secrets: true})
	require.ElementsMatch(t, again, third)
}

// difference returns the lines of a that are not in b.
func difference(a, b []string) []string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, l)
		}
	}
	return out
}

func firstMediaID(t *testing.T, s *catalog.Store, instance string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, pgtest.DB(t, s).QueryRow(t.Context(), `SELECT min(id) FROM media_files WHERE instance_id = $1`, instance).Scan(&id))
	return id
}

func TestExportImport_WithoutSecretsIntoOtherIDs(t *testing.T) {
	b := setup(t)
	media := b.catalogue(t)

	lines, _ := exportLines(t, b, b.store, catalog.ExportOptions{ClienteID: b.clienteID})
	all := strings.Join(lines, "\n")
	require.NotContains(t, all, "wapi-token")
	for _, key := range []string{"api_token_hash", "wapi_token", "webhook_secret_hash", "media_key"} {
		require.NotContains(t, all, `"`+key+`":`, key)
	}
	require.NotContains(t, all, "GLOBEX")

	// The target already has a cliente, so acme gets another id, and the
	// instance ACME-2 exists there already under acme.
	target, _ := pgtest.NewStore(t)
	_, err := operator.New(target).Register(b.ctx, "zeta", "ZETA-1", "z")
	require.NoError(t, err)
	acme, err := operator.New(target).Register(b.ctx, "acme", "ACME-2", "kept")
	require.NoError(t, err)
	res := importLines(t, b, target, lines)
	require.Equal(t, map[string]catalog.ImportCounts{
		"cliente": {Present: 1}, "instance": {Inserted: 1, Present: 1}, "chat": {Inserted: 2}, "media": {Inserted: int64(media - 1)},
	}, res.ByKind)
	require.Equal(t, []catalog.ClienteMove{{Name: "acme", From: b.clienteID, To: acme.ClienteID}}, res.Moves)
	require.Equal(t, []string{b.instance}, res.NoSecrets)

	// The stored files' paths follow the cliente's new id; chats are found
	// by remote id; the instance without secrets is locked but usable.
	var paths []string
	rows, _ := pgtest.DB(t, target).Query(b.ctx, `SELECT file_path FROM media_files WHERE file_path IS NOT NULL`)
	for rows.Next() {
		var p string
		require.NoError(t, rows.Scan(&p))
		paths = append(paths, p)
	}
	require.NoError(t, rows.Err())
	require.Len(t, paths, 2)
	require.True(t, strings.HasPrefix(paths[0], fmt.Sprintf("%d/", acme.ClienteID)), paths[0])
	var group bool
	require.NoError(t, pgtest.DB(t, target).QueryRow(b.ctx, `
		SELECT ch.is_group FROM media_files m JOIN chats ch ON ch.id = m.chat_id
		WHERE m.media_type = 'document' AND m.download_status = 'pending'`).Scan(&group))
	require.True(t, group)
	var clientes int64
	require.NoError(t, pgtest.DB(t, target).QueryRow(b.ctx, `SELECT count(*) FROM media_files WHERE cliente_id <> $1`, acme.ClienteID).Scan(&clientes))
	require.Zero(t, clientes)
	hashes, err := target.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.NotEqual(t, [32]byte{}, hashes[b.instance].SecretHash, "a random, unknown webhook secret")
	rotated, err := operator.New(target).Register(b.ctx, "acme", b.instance, "new-token")
	require.NoError(t, err)
	require.False(t, rotated.InstanceCreated)
	job, err := target.LoadDownload(b.ctx, firstMediaID(t, target, b.instance))
	require.NoError(t, err)
	require.Equal(t, "new-token", job.WAPIToken)
	require.Empty(t, job.Descriptor.MediaKey, "media keys are secrets")
}

func TestImport_BadLines(t *testing.T) {
	b := setup(t)
	b.catalogue(t)
	lines, _ := exportLines(t, b, b.store, catalog.ExportOptions{})
	var media string
	for _, l := range lines {
		if strings.Contains(l, `"kind":"media"`) && strings.Contains(l, `"file_path"`) {
			media = l
			break
		}
	}
	require.NotEmpty(t, media)
	edit := func(changes map[string]any) string {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(media), &m))
		for k, v := range changes {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		out, err := json.Marshal(m)
		require.NoError(t, err)
		return string(out)
	}
	input := []string{
		`{"kind":"cliente","id":1,"name":"acme"}`,
		`{"kind":"instance","cliente":"acme","id":"3B6XIW-ZTS923-GEAY6V"}`,
		`not json`,           // 3
		`{"kind":"webhook"}`, // 4
		``,                   // blank: skipped
		`{"kind":"instance","cliente":"acme","id":"bad id"}`,   // 6
		`{"kind":"instance","cliente":"nobody","id":"LOST-1"}`, // 7
		`{"kind":"chat","cliente":"acme","instance_id":"3B6XIW-ZTS923-GEAY6V","remote_id":"5511911112222"}`,
		edit(map[string]any{"file_path": "../../etc/passwd"}),                    // 9
		edit(map[string]any{"message_id": "M-late", "created_at": "not a time"}), // 10: the database refuses it
		edit(map[string]any{"message_id": "M-chat", "chat_remote_id": "nobody"}), // 11
		edit(map[string]any{"message_id": "M-other", "cliente": "globex"}),       // 12
		edit(map[string]any{"message_id": "M-ok", "media_type": "image"}),
		edit(map[string]any{"message_id": nil}), // 14
		media,
	}
	target, _ := pgtest.NewStore(t)
	_, err := operator.New(target).Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	bad := map[int64]string{}
	res, err := operator.New(target).Import(b.ctx, strings.NewReader(strings.Join(input, "\n")), catalog.ImportOptions{
		CheckPath: blob.CheckPath,
		BatchSize: 10,
		Bad:       func(line int64, err error) { bad[line] = err.Error() },
	})
	require.NoError(t, err)
	require.EqualValues(t, len(input), res.Lines)
	require.EqualValues(t, len(bad), res.Bad)
	require.Equal(t, []int64{3, 4, 6, 7, 9, 10, 11, 12, 14}, slices.Sorted(maps.Keys(bad)), bad)
	require.Contains(t, bad[3], "not a JSON object")
	require.Contains(t, bad[4], `unknown kind "webhook"`)
	require.Contains(t, bad[6], "invalid instance id")
	require.Contains(t, bad[7], "cliente is not in the catalogue")
	require.Contains(t, bad[9], "invalid media path")
	require.Contains(t, bad[10], "timestamp")
	require.Contains(t, bad[11], "chat is not in the catalogue")
	require.Contains(t, bad[12], "belongs to another cliente")
	require.Contains(t, bad[14], "media: missing message_id")
	require.Equal(t, catalog.ImportCounts{Inserted: 2, Bad: 5}, res.ByKind["media"])
	require.Equal(t, catalog.ImportCounts{Inserted: 1, Bad: 2}, res.ByKind["instance"])
}

// TestExport_EveryColumn guards the backup's column list: a media_files
// column added to the schema but not to the backup would be lost.
func TestExport_EveryColumn(t *testing.T) {
	b := setup(t)
	id := b.recordOne(t, descriptor(wamedia.Document))
	_, err := pgtest.DB(t, b.store).Exec(b.ctx, `
		UPDATE media_files SET sender_id = 's', sender_name = 'n', message_timestamp = now(), mimetype = 'x/y',
			file_name = 'f', caption = 'c', title = 't', page_count = 1, width = 1, height = 1, duration_seconds = 1,
			failure_reason = 'timeout', file_path = '1/aa/bb/x.bin', file_size = 1, download_timestamp = now(),
			file_deleted_at = now(), event = 'e', message_kind = 'k',
			first_attempt_at = now(), next_attempt_at = now(), last_reason = 'timeout', best_reason = 'timeout', verify_failures = 1,
			provider_media_id = '1003'
		WHERE id = $1`, id)
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = b.op.Export(b.ctx, &buf, catalog.ExportOptions{Secrets: true})
	require.NoError(t, err)
	var line map[string]any
	for l := range strings.SplitSeq(buf.String(), "\n") {
		if strings.Contains(l, `"kind":"media"`) {
			require.NoError(t, json.Unmarshal([]byte(l), &line))
		}
	}
	rows, _ := pgtest.DB(t, b.store).Query(b.ctx, `
		SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'media_files'`)
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string]) // closes rows: a failure below must not hold the pool's Close
	require.NoError(t, err)
	for _, col := range cols {
		switch col {
		case "id", "cliente_id", "chat_id": // translated to natural keys
			continue
		case "change_xid": // a position in this database's change order
			continue
		}
		require.Contains(t, line, col, "column %s is not in the backup: add it to mediaTable in columns.go (and set it above)", col)
	}
	require.Equal(t, "acme", line["cliente"])
	require.Equal(t, "5511911112222", line["chat_remote_id"])
}
