package catalog_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func TestChangeCursor(t *testing.T) {
	t.Parallel()
	c := catalog.ChangeCursor{Change: 1 << 40, ID: 42}
	got, ok, err := catalog.ParseChangeCursor(c.String())
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, c, got)
	require.False(t, got.IsZero())

	created := catalog.MediaCursor{CreatedAt: time.Now(), ID: 7}.String()
	_, ok, err = catalog.ParseChangeCursor(created)
	require.NoError(t, err)
	require.False(t, ok, "a created_at cursor is told apart")
	for _, bad := range []string{"", "x", "!!!!", c.String() + "A", "AwAAAAAAAAAAAAAAAAAAAAAA"} {
		_, _, err := catalog.ParseChangeCursor(bad)
		require.ErrorIs(t, err, catalog.ErrInvalidFilter, bad)
		var fe *catalog.FilterError
		require.ErrorAs(t, err, &fe)
		require.Equal(t, []string{"cursor"}, fe.Params)
	}
}

// poller follows a cliente's change feed as an API client does.
type poller struct {
	b      *testBundle
	filter catalog.ChangeFilter
	seen   []int64 // every row returned, in order, repeats included
	// changes has the Change of each row every time it was returned.
	changes map[int64][]int64
}

// poll reads pages until one is not full and returns the rows of this poll.
func (p *poller) poll(t *testing.T) []int64 {
	t.Helper()
	var got []int64
	for {
		page, err := p.b.store.ListMediaChanges(p.b.ctx, p.b.clienteID, p.filter)
		require.NoError(t, err)
		for i, m := range page.Items {
			require.Equal(t, p.b.clienteID, m.ClienteID)
			if i > 0 {
				prev := page.Items[i-1]
				require.True(t, prev.Change < m.Change || prev.Change == m.Change && prev.ID < m.ID, "change order")
			}
			got = append(got, m.ID)
			if p.changes == nil {
				p.changes = map[int64][]int64{}
			}
			p.changes[m.ID] = append(p.changes[m.ID], m.Change)
		}
		require.False(t, page.Next.IsZero())
		require.False(t, page.Next.Change < p.filter.After.Change, "the cursor never goes back")
		p.filter.After = page.Next
		if !page.More {
			break
		}
	}
	p.seen = append(p.seen, got...)
	return got
}

// pollFor polls until every id of want came (other transactions on the
// server may hold the horizon back for a moment) and returns what came.
func (p *poller) pollFor(t *testing.T, want ...int64) []int64 {
	t.Helper()
	var got []int64
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = append(got, p.poll(t)...)
		missing := false
		for _, id := range want {
			missing = missing || !slices.Contains(got, id)
		}
		if !missing {
			return got
		}
		require.True(t, time.Now().Before(deadline), "rows %v never came; got %v", want, got)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListMediaChanges: the change feed returns each change once, in
// commit-safe order, including a change committed late by a transaction
// that started early: the row a poller on updated_at would skip.
func TestListMediaChanges(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	db := pgtest.DB(t, b.store)

	var ids []int64
	for _, r := range b.record(t, b.message(descriptor(wamedia.Image)), b.message(descriptor(wamedia.Video)),
		b.message(descriptor(wamedia.Audio))) {
		ids = append(ids, r.MediaID)
	}
	g := b.message(descriptor(wamedia.Image))
	g.InstanceID = other.InstanceID
	b.record(t, g)

	p := &poller{b: b, filter: catalog.ChangeFilter{MediaFilter: catalog.MediaFilter{Limit: 2}}}
	require.Equal(t, sortInt64s(ids), p.pollFor(t, ids...), "one transaction: by id; another cliente's row never")

	// A transaction starts and changes ids[0] but does not commit; a later
	// one changes ids[1] and commits.
	tx, err := db.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	_, err = tx.Exec(b.ctx, `UPDATE media_files SET caption = 'late' WHERE id = $1`, ids[0])
	require.NoError(t, err)
	require.NoError(t, b.store.Fail(b.ctx, ids[1], catalog.StatusFailed, "mac_mismatch"))
	require.Empty(t, p.poll(t), "the committed change waits behind the running transaction")

	var early, late time.Time
	require.NoError(t, tx.QueryRow(b.ctx, `SELECT updated_at FROM media_files WHERE id = $1`, ids[0]).Scan(&early))
	require.NoError(t, db.QueryRow(b.ctx, `SELECT updated_at FROM media_files WHERE id = $1`, ids[1]).Scan(&late))
	require.True(t, early.Before(late), "the late commit carries the earlier updated_at")
	require.NoError(t, tx.Commit(b.ctx))

	require.Equal(t, []int64{ids[0], ids[1]}, p.pollFor(t, ids[0], ids[1]), "both, in transaction order")
	require.Empty(t, p.poll(t))

	// The trigger moves updated_at when a statement does not; a
	// redelivered message (the insert's no-op update) is no change.
	m, err := b.store.MediaByID(b.ctx, b.clienteID, ids[2])
	require.NoError(t, err)
	_, err = db.Exec(b.ctx, `UPDATE media_files SET title = 'changed' WHERE id = $1`, ids[2])
	require.NoError(t, err)
	m2, err := b.store.MediaByID(b.ctx, b.clienteID, ids[2])
	require.NoError(t, err)
	require.True(t, m2.UpdatedAt.After(m.UpdatedAt))
	require.Greater(t, m2.Change, m.Change)
	require.Equal(t, []int64{ids[2]}, p.pollFor(t, ids[2]))
	again := b.message(descriptor(wamedia.Image))
	rec, err := b.store.RecordMessages(b.ctx, []catalog.Message{again})
	require.NoError(t, err)
	fresh := rec[0].MediaID
	require.Equal(t, []int64{fresh}, p.pollFor(t, fresh))
	rec, err = b.store.RecordMessages(b.ctx, []catalog.Message{again})
	require.NoError(t, err)
	require.False(t, rec[0].Inserted)
	before := p.filter.After
	// Until the horizon passes the redelivery's transaction (others on the
	// server may hold it a moment).
	for deadline := time.Now().Add(20 * time.Second); p.filter.After.Change <= before.Change; time.Sleep(20 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the cursor never moved")
		require.Empty(t, p.poll(t), "a redelivery changes nothing")
	}
	require.Empty(t, p.poll(t), "a redelivery changes nothing")

	// updated_since and the other filters.
	since := catalog.ChangeFilter{UpdatedSince: m2.UpdatedAt, MediaFilter: catalog.MediaFilter{Status: catalog.StatusPending}}
	sp := &poller{b: b, filter: since}
	got := sp.pollFor(t, ids[2], fresh)
	require.NotContains(t, got, ids[1], "failed, not pending")
	require.NotContains(t, got, ids[0], "changed before updated_since")

	_, err = b.store.ListMediaChanges(b.ctx, b.clienteID, catalog.ChangeFilter{
		MediaFilter: catalog.MediaFilter{After: catalog.MediaCursor{CreatedAt: time.Now(), ID: 1}, Type: "ptt"}})
	var fe *catalog.FilterError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, []string{"type", "cursor"}, fe.Params)
}

// TestListMediaChangesConcurrent: writers commit changes in overlapping
// transactions while a poller follows the feed; at the end the poller has
// seen every row's last change, and never a change twice.
func TestListMediaChangesConcurrent(t *testing.T) {
	b := setup(t)
	db := pgtest.DB(t, b.store)
	msgs := make([]catalog.Message, 40)
	for i := range msgs {
		msgs[i] = b.message(descriptor(wamedia.Image))
	}
	var ids []int64
	for _, r := range b.record(t, msgs...) {
		ids = append(ids, r.MediaID)
	}
	p := &poller{b: b, filter: catalog.ChangeFilter{MediaFilter: catalog.MediaFilter{Limit: 7}}}
	p.pollFor(t, ids...)
	p.changes = nil

	// Each writer holds its transaction open for a while, so that later
	// transactions commit before earlier ones.
	const writers = 8
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			errs <- func() error {
				for round := range 5 {
					tx, err := db.Begin(b.ctx)
					if err != nil {
						return err
					}
					for i := w; i < len(ids); i += writers {
						if _, err := tx.Exec(b.ctx, `UPDATE media_files SET caption = $2 WHERE id = $1`, ids[i],
							"w"+string(rune('0'+w))+"r"+string(rune('0'+round))); err != nil {
							_ = tx.Rollback(b.ctx)
							return err
						}
					}
					time.Sleep(time.Duration(writers-w) * 3 * time.Millisecond)
					if err := tx.Commit(b.ctx); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
	}
	done := 0
	for done < writers {
		select {
		case err := <-errs:
			require.NoError(t, err)
			done++
		default:
			p.poll(t)
			time.Sleep(2 * time.Millisecond)
		}
	}
	// Every row changed 5 times: the poller saw each row's changes in
	// order, never one twice, and at last its final change (a poll may fold
	// several changes of a row into one).
	final := map[int64]int64{}
	for _, id := range ids {
		m, err := b.store.MediaByID(b.ctx, b.clienteID, id)
		require.NoError(t, err)
		final[id] = m.Change
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		caught := true
		for _, id := range ids {
			ch := p.changes[id]
			caught = caught && len(ch) > 0 && ch[len(ch)-1] == final[id]
		}
		if caught {
			break
		}
		require.True(t, time.Now().Before(deadline), "the poller never caught up")
		p.poll(t)
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range ids {
		ch := p.changes[id]
		require.True(t, slices.IsSorted(ch) && len(slices.Compact(slices.Clone(ch))) == len(ch), "row %d: %v", id, ch)
	}
	// Replaying the feed from the start shows each row once, at its last
	// change.
	replay := &poller{b: b, filter: catalog.ChangeFilter{MediaFilter: catalog.MediaFilter{Limit: 500}}}
	got := replay.pollFor(t, ids...)
	require.ElementsMatch(t, ids, got)
	for _, id := range ids {
		require.Equal(t, []int64{final[id]}, replay.changes[id])
	}
}

func sortInt64s(ids []int64) []int64 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}
