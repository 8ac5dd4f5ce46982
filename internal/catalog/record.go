package catalog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// Message is what the analyzer records of one message event.
type Message struct {
	InstanceID string
	MessageID  string // required when Media is not empty
	Event      string // webhookReceived, webhookDelivery

	ChatRemoteID string // as W-API sends it; empty: no chat row
	ChatJID      string
	ChatName     string // empty never overwrites a known name
	IsGroup      bool
	FromMe       bool
	SenderID     string
	SenderName   string
	Moment       time.Time // zero: unknown

	Media []wamedia.Descriptor // after Check: Downloadable decides the status
	// Origins, when set, has one entry per Media item: where a provider
	// keeps that item's bytes and how they can be verified. nil: every item
	// is WhatsApp's encrypted CDN blob (W-API, Evolution).
	Origins []Origin
}

// Origin is where a media item's bytes are, beyond WhatsApp's CDN blob,
// and how they are verified (pkg/webhook.Media says the same of a decoded
// item).
type Origin struct {
	Source    webhook.Source // cdn, file (FileURL) or graph (MediaID)
	FileURL   string
	MediaID   string
	Integrity webhook.Integrity
}

// MessageOf is the message to record of a decoded message event (pkg/webhook,
// of any provider): its media items with their origins.
func MessageOf(ev *webhook.Event) Message {
	m := Message{
		InstanceID:   ev.InstanceID,
		MessageID:    ev.MessageID,
		Event:        ev.Kind,
		ChatRemoteID: ev.Chat.ID,
		ChatJID:      ev.Chat.JID,
		ChatName:     ev.Chat.Name,
		IsGroup:      ev.IsGroup,
		FromMe:       ev.FromMe,
		SenderID:     ev.Sender.ID,
		SenderName:   ev.Sender.Name,
		Moment:       ev.Moment,
		Media:        make([]wamedia.Descriptor, len(ev.Media)),
		Origins:      make([]Origin, len(ev.Media)),
	}
	for j := range ev.Media {
		it := &ev.Media[j]
		m.Media[j] = it.Descriptor
		m.Origins[j] = Origin{Source: it.Source, FileURL: it.FileURL, MediaID: it.MediaID, Integrity: it.Integrity}
	}
	return m
}

// origin is item it's Origin: the message's, or a CDN blob's.
func (it *item) origin() Origin {
	if j := it.key.item; j < len(it.m.Origins) {
		return it.m.Origins[j]
	}
	o := Origin{Source: webhook.SourceCDN, Integrity: webhook.IntegrityHMAC}
	if !it.d.Encrypted() {
		o.Integrity = webhook.IntegritySHA256 // newsletter media: plain, with its sha256
	}
	return o
}

// Recorded is the outcome for one media item of a RecordMessages batch.
type Recorded struct {
	Msg  int // index into the msgs argument
	Item int // index into that message's Media, stored as item_index

	MediaID   int64 // 0 when UnknownInstance
	ClienteID int64
	Type      wamedia.MediaType
	Status    string // the row's status now: pending, or failed for missing fields, or whatever a previous delivery reached

	// Inserted is false when the row already existed (a redelivery, or the
	// same item twice in one batch). A row that exists and is still pending
	// may never have had its download job published: publishing it again is
	// safe, since the job's Nats-Msg-Id deduplicates.
	Inserted bool
	// UnknownInstance means no instance has this message's InstanceID:
	// nothing was stored for it (reason unknown_instance).
	UnknownInstance bool
}

// RecordMessages stores the media items of msgs: it upserts their chats and
// inserts one media_files row per item, pending when the descriptor is
// Downloadable and failed with reason missing_fields otherwise. An item that
// is already stored keeps its row untouched (a success is never overwritten)
// and is reported with its current id and status.
//
// The whole batch is one transaction and one round trip. It returns one
// Recorded per media item, in input order; messages without media store
// nothing. A message of an unknown instance is not an error: its items come
// back with UnknownInstance set.
func (s *Store) RecordMessages(ctx context.Context, msgs []Message) ([]Recorded, error) {
	// Ids are cleaned first: a NUL byte must not fail the batch, and the
	// keys must match what RETURNING gives back.
	var (
		out      []Recorded
		inst     = make([]string, len(msgs))
		msgID    = make([]string, len(msgs))
		known    = make(map[string]bool)
		chats    chatColumns
		media    = newMediaArrays()
		order    []int // media row → index into out
		keys     = make(map[mediaKey]int)
		chatSeen = make(map[chatKey]int)
	)
	for i := range msgs {
		m := &msgs[i]
		if len(m.Media) == 0 {
			continue
		}
		inst[i], msgID[i] = cleanText(m.InstanceID), cleanText(m.MessageID)
		if msgID[i] == "" {
			return nil, fmt.Errorf("message %d (instance %s) has media but no message id", i, inst[i])
		}
		if m.Origins != nil && len(m.Origins) != len(m.Media) {
			return nil, fmt.Errorf("message %s has %d media items and %d origins", msgID[i], len(m.Media), len(m.Origins))
		}
		if len(m.Media) > 1<<15 {
			return nil, fmt.Errorf("message %s has %d media items", msgID[i], len(m.Media))
		}
		known[inst[i]] = false
		for j := range m.Media {
			if wamedia.ClassOf(m.Media[j].Type) == "" {
				return nil, fmt.Errorf("message %s item %d: unknown media type %q", msgID[i], j, m.Media[j].Type)
			}
			out = append(out, Recorded{Msg: i, Item: j, Type: m.Media[j].Type})
		}
	}
	if len(out) == 0 {
		return out, nil
	}

	// Rows are sent sorted by key, so that concurrent batches lock rows in
	// the same order and cannot deadlock each other.
	idx := make([]int, len(out))
	for k := range idx {
		idx[k] = k
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ma, mb := out[a].Msg, out[b].Msg
		return cmp.Or(cmp.Compare(inst[ma], inst[mb]), cmp.Compare(msgID[ma], msgID[mb]), cmp.Compare(out[a].Item, out[b].Item))
	})
	for _, k := range idx {
		r := &out[k]
		key := mediaKey{inst[r.Msg], msgID[r.Msg], r.Item}
		if _, dup := keys[key]; dup {
			continue
		}
		keys[key] = len(order)
		order = append(order, k)
		m := &msgs[r.Msg]
		media.add(key, m, &m.Media[r.Item])
		if m.ChatRemoteID != "" {
			chats.add(chatSeen, key.instance, m)
		}
	}
	chats.sort()

	b := &pgx.Batch{}
	b.Queue(`SELECT id FROM instances WHERE id = ANY($1)`, slices.Collect(maps.Keys(known)))
	b.Queue(insertChatsSQL, chats.instance, chats.remote, chats.jid, chats.name, chats.group)
	b.Queue(updateChatNamesSQL, chats.instance, chats.remote, chats.name)
	b.Queue(insertMediaSQL, media.args()...)
	// No explicit BEGIN: pgx sends the batch as one pipeline ended by a single
	// Sync, which PostgreSQL runs as one implicit transaction.
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()

	var (
		instance string
		id       int64
		message  string
		item     int16
		cliente  int64
		status   string
		existed  bool
	)
	rows, _ := br.Query()
	if _, err := pgx.ForEachRow(rows, []any{&instance}, func() error { known[instance] = true; return nil }); err != nil {
		return nil, fmt.Errorf("resolving instances: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("inserting chats: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("updating chat names: %w", err)
	}
	rows, _ = br.Query()
	_, err := pgx.ForEachRow(rows, []any{&id, &instance, &message, &item, &cliente, &status, &existed}, func() error {
		row, ok := keys[mediaKey{instance, message, int(item)}]
		if !ok {
			return fmt.Errorf("unexpected row %s/%s/%d", instance, message, item)
		}
		r := &out[order[row]]
		r.MediaID, r.ClienteID, r.Status, r.Inserted = id, cliente, status, !existed
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inserting media rows: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("committing media rows: %w", err)
	}

	for k := range out {
		r := &out[k]
		if !known[inst[r.Msg]] {
			r.UnknownInstance = true
			continue
		}
		if r.MediaID == 0 { // the same item twice in this batch: copy the first
			first := out[order[keys[mediaKey{inst[r.Msg], msgID[r.Msg], r.Item}]]]
			r.MediaID, r.ClienteID, r.Status = first.MediaID, first.ClienteID, first.Status
		}
		if r.MediaID == 0 {
			return nil, errors.New("inserting media rows: a row of a known instance came back without an id")
		}
	}
	return out, nil
}

type mediaKey struct {
	instance, message string
	item              int
}

type chatKey struct{ instance, remote string }

// Chats of unknown instances are dropped by the join. Existing chats are
// neither rewritten nor locked here, so concurrent batches about the same
// chats do not wait for each other; updateChatNamesSQL locks only the chats
// whose name really changes.
const insertChatsSQL = `
INSERT INTO chats (instance_id, remote_id, jid, name, is_group)
SELECT c.instance_id, c.remote_id, NULLIF(c.jid, ''), NULLIF(c.name, ''), c.is_group
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[]) AS c(instance_id, remote_id, jid, name, is_group)
JOIN instances i ON i.id = c.instance_id
ORDER BY c.instance_id, c.remote_id
ON CONFLICT (instance_id, remote_id) DO NOTHING`

// A name replaces another name, never with nothing. Rows are locked in id
// order, so that two batches renaming the same chats cannot deadlock; NO KEY
// UPDATE does not block the media inserts' foreign key checks.
const updateChatNamesSQL = `
WITH changed AS (
	SELECT chats.id, c.name
	FROM unnest($1::text[], $2::text[], $3::text[]) AS c(instance_id, remote_id, name)
	JOIN chats ON chats.instance_id = c.instance_id AND chats.remote_id = c.remote_id
	WHERE c.name <> '' AND chats.name IS DISTINCT FROM c.name
	ORDER BY chats.id
	FOR NO KEY UPDATE OF chats
)
UPDATE chats SET name = changed.name, updated_at = now()
FROM changed WHERE chats.id = changed.id`

// chatColumns holds the chat upsert's arrays, one entry per distinct chat.
type chatColumns struct {
	instance, remote, jid, name []string
	group                       []bool
}

// add adds m's chat, or gives an entry already there the name m brings.
func (c *chatColumns) add(seen map[chatKey]int, instance string, m *Message) {
	k := chatKey{instance, cleanText(m.ChatRemoteID)}
	if i, ok := seen[k]; ok {
		if m.ChatName != "" {
			c.name[i] = cleanText(m.ChatName)
		}
		return
	}
	seen[k] = len(c.instance)
	c.instance = append(c.instance, k.instance)
	c.remote = append(c.remote, k.remote)
	c.jid = append(c.jid, cleanText(m.ChatJID))
	c.name = append(c.name, cleanText(m.ChatName))
	c.group = append(c.group, m.IsGroup)
}

// sort orders the chats by key (the order their rows get locked in).
func (c *chatColumns) sort() {
	idx := make([]int, len(c.instance))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		return cmp.Or(cmp.Compare(c.instance[a], c.instance[b]), cmp.Compare(c.remote[a], c.remote[b]))
	})
	c.instance, c.remote, c.jid, c.name, c.group = permute(c.instance, idx), permute(c.remote, idx), permute(c.jid, idx), permute(c.name, idx), permute(c.group, idx)
}

func permute[T any](s []T, idx []int) []T {
	out := make([]T, len(s))
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}

func clampInt32(n int) int32 {
	return int32(min(max(n, 0), 1<<31-1))
}
