package catalog_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// TestMediaFilterScope checks the filter that ListMedia and AdminListMedia
// share, over every combination of instance, chat, type and status, some of
// them naming another cliente's instance or chat: a cliente's list is the
// admin page's list of every cliente restricted to that cliente's rows, and
// the admin page's list of that cliente alone.
func TestMediaFilterScope(t *testing.T) {
	b := setup(t)
	second, err := b.op.Register(b.ctx, "acme", "ACME-2", "t")
	require.NoError(t, err)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)

	const group = "120363000000000001@g.us"
	// Both clientes have the one-to-one chat of b.message and the group.
	msg := func(instance string, inGroup bool, typ wamedia.MediaType) catalog.Message {
		m := b.message(descriptor(typ))
		m.InstanceID = instance
		if inGroup {
			m.ChatRemoteID, m.ChatJID, m.IsGroup = group, group, true
		}
		return m
	}
	rec := b.record(t,
		msg(b.instance, false, wamedia.Image),
		msg(b.instance, false, wamedia.Video),
		msg(b.instance, true, wamedia.Sticker),
		msg(second.InstanceID, false, wamedia.Image),
		msg(other.InstanceID, false, wamedia.Image),
		msg(other.InstanceID, true, wamedia.Video),
	)
	var acme, all []int64
	for i, r := range rec {
		all = append(all, r.MediaID)
		if i < 4 {
			acme = append(acme, r.MediaID)
		}
	}
	require.NoError(t, b.store.Fail(b.ctx, rec[1].MediaID, catalog.StatusFailed, "mac_mismatch"))
	require.NoError(t, b.store.Fail(b.ctx, rec[5].MediaID, catalog.StatusFailed, "mac_mismatch"))
	chatID := func(instance, remote string) string {
		var id int64
		require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx,
			`SELECT id FROM chats WHERE instance_id = $1 AND remote_id = $2`, instance, remote).Scan(&id))
		return strconv.FormatInt(id, 10)
	}

	acmeList := func(f catalog.MediaFilter) []int64 {
		t.Helper()
		page, err := b.store.ListMedia(b.ctx, b.clienteID, f)
		require.NoError(t, err)
		require.Nil(t, page.Next)
		return sortedIDs(page.Items)
	}
	adminList := func(f catalog.AdminMediaFilter) []int64 {
		t.Helper()
		page, err := b.op.AdminListMedia(b.ctx, f)
		require.NoError(t, err)
		require.Zero(t, page.Next)
		return sortedIDs(page.Items)
	}

	nonEmpty := 0
	for _, instance := range []string{"", b.instance, second.InstanceID, other.InstanceID} {
		for _, chat := range []string{
			"", "5511911112222", "5511911112222@s.whatsapp.net", group, "nobody",
			chatID(b.instance, "5511911112222"), chatID(other.InstanceID, "5511911112222"), chatID(other.InstanceID, group),
		} {
			for _, typ := range []wamedia.MediaType{"", wamedia.Image, wamedia.Video} {
				for _, status := range []string{"", catalog.StatusPending, catalog.StatusFailed} {
					name := fmt.Sprintf("instance=%q chat=%q type=%q status=%q", instance, chat, typ, status)
					got := acmeList(catalog.MediaFilter{InstanceID: instance, Chat: chat, Type: typ, Status: status})
					af := catalog.AdminMediaFilter{InstanceID: instance, Chat: chat, Type: typ, Status: status}
					every := adminList(af)
					af.ClienteID = b.clienteID
					require.Equal(t, got, adminList(af), name)
					var want []int64
					for _, id := range every {
						if slices.Contains(acme, id) {
							want = append(want, id)
						}
					}
					require.Equal(t, want, got, name)
					require.Subset(t, all, every, name)
					if len(got) > 0 {
						nonEmpty++
					}
				}
			}
		}
	}
	require.Greater(t, nonEmpty, 20, "the combinations select rows")

	// A few by hand: a chat, by remote id, is every cliente's chat of that
	// id on the admin page, the caller's own one through ListMedia.
	require.Equal(t, sortedOf(rec[2].MediaID, rec[5].MediaID), adminList(catalog.AdminMediaFilter{Chat: group}))
	require.Equal(t, sortedOf(rec[2].MediaID), acmeList(catalog.MediaFilter{Chat: group}))
	require.Empty(t, acmeList(catalog.MediaFilter{Chat: chatID(other.InstanceID, group)}))
	require.Equal(t, sortedOf(rec[3].MediaID), acmeList(catalog.MediaFilter{InstanceID: second.InstanceID, Chat: "5511911112222"}))
	require.Equal(t, sortedOf(rec[5].MediaID), adminList(catalog.AdminMediaFilter{Reason: "mac_mismatch", InstanceID: other.InstanceID}))
}

func sortedIDs(items []catalog.Media) []int64 {
	ids := mediaIDs(items)
	slices.Sort(ids)
	if len(ids) == 0 {
		return nil
	}
	return ids
}

func sortedOf(ids ...int64) []int64 {
	slices.Sort(ids)
	return ids
}
