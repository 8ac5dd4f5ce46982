package catalog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The catalogue backup is JSON Lines: one object per line, with a "kind" of
// cliente, instance, chat or media, written in that order so that a restore
// meets every row after the rows it refers to. Objects carry natural keys,
// never the surrogate ids of the database they came from: an instance, chat
// and media line names its cliente, a media line its chat by remote id. Other
// fields are the table's columns under their own names; nulls are left out,
// bytea is PostgreSQL's hex text ("\\x…"), timestamps are RFC 3339.
//
// Secrets are left out unless asked for: the cliente's api_token_hash, the
// instance's wapi_token, webhook_secret_hash, api_key, app_secret and
// verify_token_hash, and the media_key of every media row. An instance's
// provider and base_url are not secret. Without its media_key a row cannot be downloaded again.

// Kinds of backup lines.
const (
	KindCliente  = "cliente"
	KindInstance = "instance"
	KindChat     = "chat"
	KindMedia    = "media"
)

// Kinds lists the backup line kinds in the order a backup holds them.
var Kinds = []string{KindCliente, KindInstance, KindChat, KindMedia}

// backupColumns are the media_files columns a backup carries under their own
// names (see mediaTable). change_xid is left out (an imported row is a new
// change); the others are translated: id is dropped, cliente_id becomes the
// cliente's name, chat_id the chat's remote id, and file_path and
// download_status are adjusted on import.
var backupColumns = func() []*mediaColumn {
	var cols []*mediaColumn
	for i := range mediaTable {
		if c := &mediaTable[i]; c.backup != backupTranslated && c.backup != backupNone {
			cols = append(cols, c)
		}
	}
	return cols
}()

// ExportOptions selects what Export writes.
type ExportOptions struct {
	ClienteID int64 // 0: every cliente
	// Secrets includes the API token hashes, the instances' W-API tokens,
	// webhook secret hashes, API keys, Meta app secrets and verify token
	// hashes, and media keys.
	Secrets bool
	// Progress, when set, is called every few thousand media lines with the
	// media lines written and their total.
	Progress func(done, total int64)
}

// exportBackup is Operator.Export.
func (s *Store) exportBackup(ctx context.Context, w io.Writer, opts ExportOptions) (map[string]int64, error) {
	counts := make(map[string]int64, len(Kinds))
	secret := func(expr string) string {
		if opts.Secrets {
			return ", " + expr
		}
		return ""
	}
	var media strings.Builder
	for _, c := range backupColumns {
		if c.backup == backupSecret && !opts.Secrets {
			continue
		}
		media.WriteString(", m." + c.name)
		if c.name == "instance_id" { // natural key first, for the reader
			media.WriteString(", ch.remote_id AS chat_remote_id, m.file_path, m.download_status")
		}
	}
	filter := func(col string) (string, []any) {
		if opts.ClienteID == 0 {
			return "", nil
		}
		return "WHERE " + col + " = $1", []any{opts.ClienteID}
	}
	type part struct {
		kind string
		sql  string
	}
	where, args := filter("c.id")
	parts := []part{
		{KindCliente, `
			SELECT json_strip_nulls(row_to_json(x))::text
			FROM clientes c, LATERAL (SELECT 'cliente' AS kind, c.id, c.name, c.created_at` + secret("c.api_token_hash") + `) x
			` + where + ` ORDER BY c.id`},
		{KindInstance, `
			SELECT json_strip_nulls(row_to_json(x))::text
			FROM instances i JOIN clientes c ON c.id = i.cliente_id,
				LATERAL (SELECT 'instance' AS kind, c.name AS cliente, i.id, i.provider, i.base_url, i.created_at, i.updated_at` +
			secret("i.wapi_token, i.webhook_secret_hash, i.api_key, i.app_secret, i.verify_token_hash") + `) x
			` + where + ` ORDER BY i.id`},
		{KindChat, `
			SELECT json_strip_nulls(row_to_json(x))::text
			FROM chats ch JOIN instances i ON i.id = ch.instance_id JOIN clientes c ON c.id = i.cliente_id,
				LATERAL (SELECT 'chat' AS kind, c.name AS cliente, ch.instance_id, ch.remote_id, ch.jid, ch.name,
					ch.is_group, ch.created_at, ch.updated_at) x
			` + where + ` ORDER BY ch.id`},
		{KindMedia, `
			SELECT json_strip_nulls(row_to_json(x))::text
			FROM media_files m JOIN clientes c ON c.id = m.cliente_id LEFT JOIN chats ch ON ch.id = m.chat_id,
				LATERAL (SELECT 'media' AS kind, c.name AS cliente` + media.String() + `) x
			` + strings.Replace(where, "c.id", "m.cliente_id", 1) + ` ORDER BY m.id`},
	}

	bw := bufio.NewWriterSize(w, 256<<10)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var total int64
		if opts.Progress != nil {
			cond, a := filter("cliente_id")
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM media_files `+cond, a...).Scan(&total); err != nil {
				return fmt.Errorf("counting media: %w", err)
			}
			opts.Progress(0, total)
		}
		for _, p := range parts {
			rows, err := tx.Query(ctx, p.sql, args...)
			if err != nil {
				return fmt.Errorf("exporting %s rows: %w", p.kind, err)
			}
			n := int64(0)
			for rows.Next() {
				// A text column arrives as its bytes: written as they are,
				// without a copy. JSON escapes every newline inside a value.
				bw.Write(rows.RawValues()[0])
				if err := bw.WriteByte('\n'); err != nil {
					rows.Close()
					return fmt.Errorf("writing the export: %w", err)
				}
				n++
				if p.kind == KindMedia && opts.Progress != nil && n%5000 == 0 {
					opts.Progress(n, total)
				}
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("exporting %s rows: %w", p.kind, err)
			}
			counts[p.kind] = n
			if p.kind == KindMedia && opts.Progress != nil {
				opts.Progress(n, total)
			}
		}
		return nil
	})
	if err != nil {
		return counts, err
	}
	if err := bw.Flush(); err != nil {
		return counts, fmt.Errorf("writing the export: %w", err)
	}
	return counts, nil
}

// ImportOptions tunes Import.
type ImportOptions struct {
	BatchSize int // lines per statement; 0: 500
	// Bad, when set, is called for every line that was not imported, with
	// its number (from 1) and why.
	Bad func(line int64, err error)
	// Progress, when set, is called after every batch with the lines read.
	Progress func(lines int64)
	// CheckPath, when set, refuses a media line whose file_path the file
	// store could not have built (blob.CheckPath): the catalogue does not
	// know the file store's layout.
	CheckPath func(path string) error
}

// ImportCounts are the outcomes of the lines of one kind.
type ImportCounts struct {
	Inserted int64 // rows created
	Present  int64 // rows that existed already (natural key), left unchanged
	Bad      int64 // lines refused
}

// ClienteMove is a cliente whose id in the target database differs from its
// id in the backup. Stored files live under MEDIA_DIR/<cliente id>/, so its
// restored files belong under the new id; Import rewrites the file paths of
// the media rows it inserts accordingly.
type ClienteMove struct {
	Name     string
	From, To int64
}

// ImportResult is what Import did.
type ImportResult struct {
	Lines  int64                   // lines read, blank ones included
	ByKind map[string]ImportCounts // by line kind
	Bad    int64                   // every refused line, of a known kind or not
	Moves  []ClienteMove           // clientes whose id here differs from the backup's
	// NoSecrets lists the instances created without a W-API token (a backup
	// made without secrets): their webhook secret is a random one nobody
	// knows, so their webhooks are refused until `tenant add` sets a token
	// and issues a new secret.
	NoSecrets []string
}

const importBatch = 500

// importBackup is Operator.Import.
func (s *Store) importBackup(ctx context.Context, r io.Reader, opts ImportOptions) (ImportResult, error) {
	batchSize := opts.BatchSize
	if batchSize <= 0 {
		batchSize = importBatch
	}
	res := ImportResult{ByKind: make(map[string]ImportCounts, len(Kinds))}
	moved := make(map[string]bool)
	bad := func(kind string, line int64, err error) {
		res.Bad++
		if kind != "" {
			c := res.ByKind[kind]
			c.Bad++
			res.ByKind[kind] = c
		}
		if opts.Bad != nil {
			opts.Bad(line, err)
		}
	}
	var b importBatchState
	flush := func() error {
		if len(b.docs) == 0 {
			return nil
		}
		outcomes, err := s.importBatch(ctx, b.kind, b.docs)
		if isRefusedValue(err) {
			// One line spoils the statement: find it by trying each alone.
			outcomes = outcomes[:0]
			for i := range b.docs {
				one, err := s.importBatch(ctx, b.kind, b.docs[i:i+1])
				if isRefusedValue(err) {
					bad(b.kind, b.lines[i], refused(b.kind, err))
					outcomes = append(outcomes, importOutcome{state: "refused"})
					continue
				}
				if err != nil {
					return err
				}
				outcomes = append(outcomes, one[0])
			}
		} else if err != nil {
			return err
		}
		for i, o := range outcomes {
			c := res.ByKind[b.kind]
			switch o.state {
			case "refused":
			case "inserted":
				c.Inserted++
			case "present":
				c.Present++
			default:
				bad(b.kind, b.lines[i], fmt.Errorf("%s: %s", b.kind, o.state))
				continue
			}
			res.ByKind[b.kind] = c
			if b.kind == KindCliente && o.sourceID != 0 && o.targetID != 0 && o.sourceID != o.targetID && !moved[o.name] {
				moved[o.name] = true
				res.Moves = append(res.Moves, ClienteMove{Name: o.name, From: o.sourceID, To: o.targetID})
			}
			if b.kind == KindInstance && o.state == "inserted" && o.noSecrets {
				res.NoSecrets = append(res.NoSecrets, o.name)
			}
		}
		b.docs, b.lines = b.docs[:0], b.lines[:0]
		if opts.Progress != nil {
			opts.Progress(res.Lines)
		}
		return nil
	}

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		res.Lines++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		kind, err := checkBackupLine(line, opts.CheckPath)
		if err != nil {
			bad(kind, res.Lines, err)
			continue
		}
		if kind != b.kind || len(b.docs) >= batchSize {
			if err := flush(); err != nil {
				return res, err
			}
			b.kind = kind
		}
		b.docs = append(b.docs, string(line))
		b.lines = append(b.lines, res.Lines)
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("reading line %d: %w", res.Lines+1, err)
	}
	if err := flush(); err != nil {
		return res, err
	}
	return res, nil
}

type importBatchState struct {
	kind  string
	docs  []string
	lines []int64
}

// importOutcome is the fate of one line of a batch. state is inserted,
// present or, for a line refused, the reason.
type importOutcome struct {
	state     string
	name      string // cliente name or instance id
	sourceID  int64  // cliente id in the backup
	targetID  int64  // cliente id here
	noSecrets bool   // instance without a W-API token
}

// backupLine holds the fields of a backup line that Import checks before
// the database sees it.
type backupLine struct {
	Kind       string          `json:"kind"`
	ID         json.RawMessage `json:"id"`
	Name       *string         `json:"name"`
	Cliente    *string         `json:"cliente"`
	InstanceID *string         `json:"instance_id"`
	RemoteID   *string         `json:"remote_id"`
	MessageID  *string         `json:"message_id"`
	FilePath   *string         `json:"file_path"`
}

// checkBackupLine parses line and checks its kind and keys. It returns the
// kind when it is known, even with an error.
func checkBackupLine(line []byte, checkPath func(string) error) (string, error) {
	var l backupLine
	if err := json.Unmarshal(line, &l); err != nil {
		return "", fmt.Errorf("not a JSON object: %w", err)
	}
	// missing reports the fields of names whose values are absent or empty.
	missing := func(names []string, values ...*string) error {
		var absent []string
		for i, v := range values {
			if v == nil || *v == "" {
				absent = append(absent, names[i])
			}
		}
		if len(absent) > 0 {
			return fmt.Errorf("%s: missing %s", l.Kind, strings.Join(absent, ", "))
		}
		return nil
	}
	switch l.Kind {
	case KindCliente:
		return l.Kind, missing([]string{"name"}, l.Name)
	case KindInstance:
		var id string
		if err := json.Unmarshal(l.ID, &id); err != nil || id == "" {
			return l.Kind, errors.New("instance: id is missing or not a string")
		}
		if err := ValidateInstanceID(id); err != nil {
			return l.Kind, fmt.Errorf("instance: %w", err)
		}
		return l.Kind, missing([]string{"cliente"}, l.Cliente)
	case KindChat:
		return l.Kind, missing([]string{"cliente", "instance_id", "remote_id"}, l.Cliente, l.InstanceID, l.RemoteID)
	case KindMedia:
		if err := missing([]string{"cliente", "instance_id", "message_id"}, l.Cliente, l.InstanceID, l.MessageID); err != nil {
			return l.Kind, err
		}
		if l.FilePath != nil && checkPath != nil {
			if err := checkPath(*l.FilePath); err != nil {
				return l.Kind, fmt.Errorf("media: file_path: %w", err)
			}
		}
		return l.Kind, nil
	case "":
		return "", errors.New(`no "kind"`)
	default:
		return "", fmt.Errorf("unknown kind %q (want cliente, instance, chat or media)", l.Kind)
	}
}

// Outcome states that SQL returns for lines it refuses, and their messages.
var refusals = map[string]string{
	"no_cliente":    "its cliente is not in the catalogue (import the cliente line first)",
	"other_cliente": "its instance belongs to another cliente here",
	"no_instance":   "its instance is not in the catalogue (import the instance line first)",
	"no_chat":       "its chat is not in the catalogue (import the chat line first)",
}

// importBatch inserts the lines of one kind and returns their outcomes in
// order.
func (s *Store) importBatch(ctx context.Context, kind string, docs []string) ([]importOutcome, error) {
	var sql string
	switch kind {
	case KindCliente:
		sql = importClientesSQL
	case KindInstance:
		sql = importInstancesSQL
	case KindChat:
		sql = importChatsSQL
	case KindMedia:
		sql = importMediaSQL
	default:
		return nil, fmt.Errorf("importing: unknown kind %q", kind)
	}
	rows, _ := s.pool.Query(ctx, sql, docs)
	out := make([]importOutcome, 0, len(docs))
	var (
		o        importOutcome
		name     *string
		src, dst *int64
	)
	_, err := pgx.ForEachRow(rows, []any{&o.state, &name, &src, &dst, &o.noSecrets}, func() error {
		o.name, o.sourceID, o.targetID = "", 0, 0
		if name != nil {
			o.name = *name
		}
		if src != nil {
			o.sourceID = *src
		}
		if dst != nil {
			o.targetID = *dst
		}
		if msg, ok := refusals[o.state]; ok {
			o.state = msg
		}
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("importing %s lines: %w", kind, err)
	}
	if len(out) != len(docs) {
		return nil, fmt.Errorf("importing %s lines: %d outcomes for %d lines", kind, len(out), len(docs))
	}
	return out, nil
}

// Every import statement takes the lines as $1 (text[]), parses each once
// (the materialized docs), and returns, per line in order: state, name, source id, target id, no secrets. Duplicates
// inside one batch insert once (DISTINCT ON); the first line counts as
// inserted. Rows are inserted in key order, so that concurrent imports lock
// in the same order.
const importClientesSQL = `
	WITH docs AS MATERIALIZED (
		SELECT u.line::jsonb AS doc, u.n FROM unnest($1::text[]) WITH ORDINALITY AS u(line, n)
	), input AS (
		SELECT t.n, t.doc->>'name' AS name, (t.doc->>'id')::bigint AS source_id,
			(t.doc->>'api_token_hash')::bytea AS api_token_hash,
			COALESCE((t.doc->>'created_at')::timestamptz, now()) AS created_at
		FROM docs AS t
	), ins AS (
		INSERT INTO clientes (name, api_token_hash, created_at)
		SELECT DISTINCT ON (name) name, api_token_hash, created_at FROM input ORDER BY name, n
		ON CONFLICT (name) DO NOTHING
		RETURNING id, name
	)
	SELECT CASE WHEN ins.id IS NOT NULL AND i.n = min(i.n) OVER (PARTITION BY i.name) THEN 'inserted' ELSE 'present' END,
		i.name, i.source_id, COALESCE(ins.id, c.id), false
	FROM input i LEFT JOIN ins ON ins.name = i.name LEFT JOIN clientes c ON c.name = i.name
	ORDER BY i.n`

// An instance without secrets gets an empty W-API token, no API key, app
// secret or verify token, and the hash of a random secret that is never
// shown: its webhooks are refused until tenant add rotates it. A line of a
// backup older than the providers has no provider: W-API.
const importInstancesSQL = `
	WITH docs AS MATERIALIZED (
		SELECT u.line::jsonb AS doc, u.n FROM unnest($1::text[]) WITH ORDINALITY AS u(line, n)
	), input AS (
		SELECT t.n, t.doc->>'id' AS id, c.id AS cliente_id,
			t.doc->>'wapi_token' IS NULL AS no_secrets,
			COALESCE(t.doc->>'wapi_token', '') AS wapi_token,
			COALESCE((t.doc->>'webhook_secret_hash')::bytea, sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))) AS secret_hash,
			COALESCE(t.doc->>'provider', 'wapi') AS provider, t.doc->>'base_url' AS base_url,
			t.doc->>'api_key' AS api_key, t.doc->>'app_secret' AS app_secret, (t.doc->>'verify_token_hash')::bytea AS verify_token_hash,
			COALESCE((t.doc->>'created_at')::timestamptz, now()) AS created_at,
			COALESCE((t.doc->>'updated_at')::timestamptz, now()) AS updated_at
		FROM docs AS t
		LEFT JOIN clientes c ON c.name = t.doc->>'cliente'
	), ins AS (
		INSERT INTO instances (id, cliente_id, wapi_token, webhook_secret_hash, provider, base_url, api_key, app_secret, verify_token_hash, created_at, updated_at)
		SELECT DISTINCT ON (id) id, cliente_id, wapi_token, secret_hash, provider, base_url, api_key, app_secret, verify_token_hash, created_at, updated_at
		FROM input WHERE cliente_id IS NOT NULL ORDER BY id, n
		ON CONFLICT (id) DO NOTHING
		RETURNING id
	)
	SELECT CASE
			WHEN i.cliente_id IS NULL THEN 'no_cliente'
			WHEN ins.id IS NOT NULL AND i.n = min(i.n) OVER (PARTITION BY i.id) THEN 'inserted'
			WHEN e.cliente_id <> i.cliente_id THEN 'other_cliente'
			ELSE 'present' END,
		i.id, NULL::bigint, NULL::bigint, i.no_secrets
	FROM input i LEFT JOIN ins ON ins.id = i.id LEFT JOIN instances e ON e.id = i.id
	ORDER BY i.n`

const importChatsSQL = `
	WITH docs AS MATERIALIZED (
		SELECT u.line::jsonb AS doc, u.n FROM unnest($1::text[]) WITH ORDINALITY AS u(line, n)
	), input AS (
		SELECT t.n, r.instance_id, r.remote_id, r.jid, r.name, COALESCE(r.is_group, false) AS is_group,
			COALESCE(r.created_at, now()) AS created_at, COALESCE(r.updated_at, now()) AS updated_at,
			CASE WHEN i.id IS NULL THEN 'no_instance'
				WHEN c.id IS DISTINCT FROM i.cliente_id THEN 'other_cliente' END AS refused
		FROM docs AS t
		CROSS JOIN LATERAL jsonb_populate_record(NULL::chats, t.doc) AS r
		LEFT JOIN instances i ON i.id = r.instance_id
		LEFT JOIN clientes c ON c.name = t.doc->>'cliente'
	), ins AS (
		INSERT INTO chats (instance_id, remote_id, jid, name, is_group, created_at, updated_at)
		SELECT DISTINCT ON (instance_id, remote_id) instance_id, remote_id, jid, name, is_group, created_at, updated_at
		FROM input WHERE refused IS NULL ORDER BY instance_id, remote_id, n
		ON CONFLICT (instance_id, remote_id) DO NOTHING
		RETURNING instance_id, remote_id
	)
	SELECT CASE
			WHEN i.refused IS NOT NULL THEN i.refused
			WHEN ins.remote_id IS NOT NULL AND i.n = min(i.n) OVER (PARTITION BY i.instance_id, i.remote_id) THEN 'inserted'
			ELSE 'present' END,
		NULL::text, NULL::bigint, NULL::bigint, false
	FROM input i LEFT JOIN ins ON ins.instance_id = i.instance_id AND ins.remote_id = i.remote_id
	ORDER BY i.n`

var importMediaSQL = func() string {
	var cols, vals strings.Builder
	for _, c := range backupColumns {
		cols.WriteString(", " + c.name)
		if c.def != "" {
			vals.WriteString(fmt.Sprintf(", COALESCE(r.%s, %s) AS %[1]s", c.name, c.def))
		} else {
			vals.WriteString(", r." + c.name)
		}
	}
	// The file path is rebuilt under the cliente's id here (the store's
	// layout is <cliente_id>/<aa>/<bb>/<sha256><ext>, checked before).
	return `
	WITH docs AS MATERIALIZED (
		SELECT u.line::jsonb AS doc, u.n FROM unnest($1::text[]) WITH ORDINALITY AS u(line, n)
	), input AS (
		SELECT t.n, i.cliente_id, ch.id AS chat_id,
			CASE WHEN r.file_path IS NULL THEN NULL
				ELSE i.cliente_id::text || substr(r.file_path, strpos(r.file_path, '/')) END AS file_path,
			CASE WHEN r.download_status = 'downloading' THEN 'pending'
				ELSE COALESCE(r.download_status, 'pending') END AS download_status,
			CASE WHEN i.id IS NULL THEN 'no_instance'
				WHEN c.id IS DISTINCT FROM i.cliente_id THEN 'other_cliente'
				WHEN t.doc ? 'chat_remote_id' AND ch.id IS NULL THEN 'no_chat' END AS refused` + vals.String() + `
		FROM docs AS t
		CROSS JOIN LATERAL jsonb_populate_record(NULL::media_files, t.doc) AS r
		LEFT JOIN instances i ON i.id = r.instance_id
		LEFT JOIN clientes c ON c.name = t.doc->>'cliente'
		LEFT JOIN chats ch ON ch.instance_id = r.instance_id AND ch.remote_id = t.doc->>'chat_remote_id'
	), ins AS (
		INSERT INTO media_files (cliente_id, chat_id, file_path, download_status` + cols.String() + `)
		SELECT DISTINCT ON (instance_id, message_id, item_index) cliente_id, chat_id, file_path, download_status` + cols.String() + `
		FROM input WHERE refused IS NULL ORDER BY instance_id, message_id, item_index, n
		ON CONFLICT (instance_id, message_id, item_index) DO NOTHING
		RETURNING instance_id, message_id, item_index
	)
	SELECT CASE
			WHEN i.refused IS NOT NULL THEN i.refused
			WHEN ins.message_id IS NOT NULL AND i.n = min(i.n) OVER (PARTITION BY i.instance_id, i.message_id, i.item_index) THEN 'inserted'
			ELSE 'present' END,
		NULL::text, NULL::bigint, NULL::bigint, false
	FROM input i LEFT JOIN ins USING (instance_id, message_id, item_index)
	ORDER BY i.n`
}()
