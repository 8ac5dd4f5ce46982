package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// mediaFilter is the one builder of the WHERE clause of ListMedia's and
// AdminListMedia's queries over mediaSelectSQL (media_files m). Zero fields
// do not filter.
//
// Its scope comes from its constructor: clienteMediaFilter, which every
// query on behalf of a cliente must use, requires the cliente's id and then
// sees only that cliente's rows and chats, whatever the other fields name;
// adminMediaFilter, for the operators' admin page only, may see every
// cliente's. A mediaFilter made otherwise has no scope, and where refuses
// it rather than read every cliente's rows.
type mediaFilter struct {
	clienteID    int64 // > 0: this cliente's rows and chats only
	everyCliente bool  // with clienteID 0: every cliente's rows

	instanceID string
	// chat matches a chat by remote id or normalized JID and, when it is all
	// digits, by the chat's id too.
	chat     string
	typ      wamedia.MediaType
	status   string
	reason   string
	provider string // the instance's provider
	// since <= created_at < until.
	since, until time.Time
	// Pages: after is a position in ListMedia's order, (created_at, id);
	// before an id in AdminListMedia's.
	after  MediaCursor
	before int64

	// ListMediaChanges: updatedSince <= updated_at; rows past afterChange in
	// (change_xid, id) order whose change_xid is below horizon.
	changes      bool
	updatedSince time.Time
	afterChange  ChangeCursor
	horizon      int64
}

// errUnscopedFilter is where's error for a mediaFilter made by neither
// constructor.
var errUnscopedFilter = errors.New("media filter without a cliente scope")

// clienteMediaFilter returns the filter of ListMedia for cliente clienteID,
// which must be a cliente's id.
func clienteMediaFilter(clienteID int64, f MediaFilter) (mediaFilter, error) {
	if clienteID <= 0 {
		return mediaFilter{}, fmt.Errorf("cliente id %d", clienteID)
	}
	return mediaFilter{
		clienteID:  clienteID,
		instanceID: f.InstanceID, chat: f.Chat, typ: f.Type, status: f.Status, provider: f.Provider,
		since: f.Since, until: f.Until, after: f.After,
	}, nil
}

// adminMediaFilter returns the filter of AdminListMedia: scoped to
// f.ClienteID when it is set, else over every cliente.
func adminMediaFilter(f AdminMediaFilter) mediaFilter {
	return mediaFilter{
		clienteID: f.ClienteID, everyCliente: f.ClienteID == 0,
		instanceID: f.InstanceID, chat: f.Chat, typ: f.Type, status: f.Status, reason: f.Reason, provider: f.Provider,
		since: f.Since, until: f.Until, before: f.Before,
	}
}

// where returns f's conditions as "\nWHERE …" (empty when there are none)
// and their arguments, numbered from $1.
func (f mediaFilter) where() (string, []any, error) {
	var (
		args  []any
		where []string
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	cliente := ""
	switch {
	case f.clienteID > 0:
		cliente = arg(f.clienteID)
		where = append(where, "m.cliente_id = "+cliente)
	case f.clienteID == 0 && f.everyCliente:
	default:
		return "", nil, errUnscopedFilter
	}
	instance := ""
	if f.instanceID != "" {
		instance = arg(f.instanceID)
		where = append(where, "m.instance_id = "+instance)
	}
	if f.chat != "" {
		// The chats are those of the cliente's instances, when there is a
		// cliente, and of the instance asked for, when there is one; found
		// by their unique key or scanned.
		chat := arg(f.chat)
		match := []string{"ch.remote_id = " + chat, "ch.jid = " + chat}
		if id, err := strconv.ParseInt(f.chat, 10, 64); err == nil && id > 0 {
			match = append(match, "ch.id = "+arg(id))
		}
		from, conds := "chats ch", []string{}
		if cliente != "" {
			from += " JOIN instances i ON i.id = ch.instance_id"
			conds = append(conds, "i.cliente_id = "+cliente)
		}
		if instance != "" {
			conds = append(conds, "ch.instance_id = "+instance)
		}
		conds = append(conds, "("+strings.Join(match, " OR ")+")")
		where = append(where, "m.chat_id IN (SELECT ch.id FROM "+from+" WHERE "+strings.Join(conds, " AND ")+")")
	}
	if f.typ != "" {
		where = append(where, "m.media_type = "+arg(string(f.typ)))
	}
	if f.status != "" {
		where = append(where, "m.download_status = "+arg(f.status))
	}
	if f.reason != "" {
		where = append(where, "m.failure_reason = "+arg(f.reason))
	}
	if f.provider != "" {
		// Instances are few: their ids, then the rows' own index on instance_id.
		in := "SELECT i.id FROM instances i WHERE i.provider = " + arg(f.provider)
		if cliente != "" {
			in += " AND i.cliente_id = " + cliente
		}
		where = append(where, "m.instance_id IN ("+in+")")
	}
	if !f.since.IsZero() {
		where = append(where, "m.created_at >= "+arg(f.since))
	}
	if !f.until.IsZero() {
		where = append(where, "m.created_at < "+arg(f.until))
	}
	if !f.after.IsZero() {
		where = append(where, "(m.created_at, m.id) < ("+arg(f.after.CreatedAt)+", "+arg(f.after.ID)+")")
	}
	if f.before > 0 {
		where = append(where, "m.id < "+arg(f.before))
	}
	if !f.updatedSince.IsZero() {
		where = append(where, "m.updated_at >= "+arg(f.updatedSince))
	}
	if f.changes {
		// xid8 has no cast from bigint: the positions travel as text.
		where = append(where, "m.change_xid < "+arg(strconv.FormatInt(f.horizon, 10))+"::text::xid8")
		if !f.afterChange.IsZero() {
			where = append(where, "(m.change_xid, m.id) > ("+arg(strconv.FormatInt(f.afterChange.Change, 10))+"::text::xid8, "+
				arg(f.afterChange.ID)+")")
		}
	}
	if len(where) == 0 {
		return "", args, nil
	}
	return "\nWHERE " + strings.Join(where, " AND "), args, nil
}

// listMedia returns up to limit rows (0: DefaultMediaLimit) that f selects,
// in the order orderBy (an ORDER BY list of mediaSelectSQL's columns), and
// whether more follow.
func (s *Store) listMedia(ctx context.Context, f mediaFilter, orderBy string, limit int) (items []Media, more bool, err error) {
	if limit == 0 {
		limit = DefaultMediaLimit
	}
	where, args, err := f.where()
	if err != nil {
		return nil, false, fmt.Errorf("listing media: %w", err)
	}
	args = append(args, limit+1)
	sql := mediaSelectSQL + where + "\nORDER BY " + orderBy + " LIMIT $" + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, fmt.Errorf("listing media: %w", err)
	}
	items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Media, error) { return scanMedia(r) })
	if err != nil {
		return nil, false, fmt.Errorf("listing media: %w", err)
	}
	if len(items) > limit {
		return items[:limit], true, nil
	}
	return items, false, nil
}
