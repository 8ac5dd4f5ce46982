package catalog_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/housekeeping"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

func TestAddTenant(t *testing.T) {
	b := setup(t)

	// The bundle's Register created the cliente; a second instance reuses it.
	res, err := b.op.Register(b.ctx, "acme", "LITE-8NDQT1-UWX43P", "token-2")
	require.NoError(t, err)
	require.Equal(t, b.clienteID, res.ClienteID)
	require.False(t, res.ClienteCreated)
	require.Empty(t, res.APIToken, "an existing cliente's token is never shown again")
	require.True(t, res.InstanceCreated)
	require.True(t, strings.HasPrefix(res.WebhookSecret, catalog.WebhookSecretPrefix))

	hashes, err := b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Len(t, hashes, 2)
	require.Equal(t, catalog.HashSecret(res.WebhookSecret), hashes["LITE-8NDQT1-UWX43P"].SecretHash)

	// Adding it again rotates the secret and replaces the W-API token.
	again, err := b.op.Register(b.ctx, "acme", "LITE-8NDQT1-UWX43P", "token-3")
	require.NoError(t, err)
	require.False(t, again.InstanceCreated)
	require.NotEqual(t, res.WebhookSecret, again.WebhookSecret)
	hashes, err = b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Equal(t, catalog.HashSecret(again.WebhookSecret), hashes["LITE-8NDQT1-UWX43P"].SecretHash)
	var token string
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT wapi_token FROM instances WHERE id = 'LITE-8NDQT1-UWX43P'`).Scan(&token))
	require.Equal(t, "token-3", token)

	// Another cliente may not take the instance, and is not created either.
	_, err = b.op.Register(b.ctx, "globex", "LITE-8NDQT1-UWX43P", "token-4")
	require.ErrorIs(t, err, catalog.ErrInstanceOwned)
	var n int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(*) FROM clientes`).Scan(&n))
	require.Equal(t, 1, n)

	// A new cliente gets its API token once.
	globex, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "token-5")
	require.NoError(t, err)
	require.True(t, globex.ClienteCreated)
	require.True(t, strings.HasPrefix(globex.APIToken, catalog.APITokenPrefix))
	id, name, err := b.store.ClienteByAPIToken(b.ctx, globex.APIToken)
	require.NoError(t, err)
	require.Equal(t, globex.ClienteID, id)
	require.Equal(t, "globex", name)
	_, _, err = b.store.ClienteByAPIToken(b.ctx, globex.APIToken+"x")
	require.ErrorIs(t, err, catalog.ErrNotFound)
}

func TestAddTenant_Invalid(t *testing.T) {
	b := setup(t)
	for _, id := range []string{"", "a.b", "a b", "inst*", "ação", strings.Repeat("x", 65)} {
		_, err := b.op.Register(b.ctx, "acme", id, "token")
		require.ErrorIs(t, err, catalog.ErrInvalidInstanceID, "%q", id)
	}
	require.NoError(t, catalog.ValidateInstanceID(strings.Repeat("x", 64)))
	_, err := b.op.Register(b.ctx, " ", "OK-1", "token")
	require.Error(t, err)
	_, err = b.op.Register(b.ctx, "acme", "OK-1", "")
	require.Error(t, err)
}

func TestInstanceCache(t *testing.T) {
	b := setup(t)
	cache := catalog.NewInstanceCache(b.store)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			id, err := cache.Cliente(b.ctx, b.instance)
			assert.NoError(t, err)
			assert.Equal(t, b.clienteID, id)
		})
	}
	wg.Wait()

	_, err := cache.Cliente(b.ctx, "NEW-1")
	require.ErrorIs(t, err, catalog.ErrNotFound)
	// A miss is asked again, so an instance added later is found.
	_, err = b.op.Register(b.ctx, "acme", "NEW-1", "token")
	require.NoError(t, err)
	id, err := cache.Cliente(b.ctx, "NEW-1")
	require.NoError(t, err)
	require.Equal(t, b.clienteID, id)
}

func TestListTenants(t *testing.T) {
	b := setup(t)
	empty, _ := pgtest.NewStore(t)
	none, err := operator.New(empty).ListRegistered(b.ctx)
	require.NoError(t, err)
	require.Empty(t, none)

	_, err = b.op.Register(b.ctx, "acme", "ACME-2", "token-2")
	require.NoError(t, err)
	globex, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "token-3")
	require.NoError(t, err)
	// A cliente without instances, as an import of its line alone leaves it.
	_, err = pgtest.DB(t, b.store).Exec(b.ctx, `INSERT INTO clientes (name) VALUES ('initech')`)
	require.NoError(t, err)

	// acme's first instance: an image stored twice (one file) and a video;
	// globex: one audio.
	img := descriptor(wamedia.Image)
	rec := b.record(t, b.message(img), b.message(img), b.message(descriptor(wamedia.Video)))
	for _, r := range rec[:2] {
		require.NoError(t, b.store.Succeed(b.ctx, r.MediaID, catalog.Stored{Path: "1/aa/bb/img.jpg", Size: 1000, Mimetype: "image/jpeg", SHA256: img.FileSHA256}))
	}
	m := b.message(descriptor(wamedia.Audio))
	m.InstanceID = globex.InstanceID
	b.record(t, m)

	tenants, err := b.op.ListRegistered(b.ctx)
	require.NoError(t, err)
	require.Len(t, tenants, 3)
	for _, tn := range tenants {
		require.WithinDuration(t, time.Now(), tn.CreatedAt, time.Minute)
		for _, i := range tn.Instances {
			require.WithinDuration(t, time.Now(), i.CreatedAt, time.Minute)
			require.False(t, i.UpdatedAt.Before(i.CreatedAt))
		}
	}
	acme := tenants[0]
	require.Equal(t, b.clienteID, acme.ID)
	require.Equal(t, "acme", acme.Name)
	require.True(t, acme.HasAPIToken)
	require.Equal(t, int64(3), acme.Media)
	require.Equal(t, int64(1000), acme.DiskBytes)
	require.Len(t, acme.Instances, 2)
	require.Equal(t, b.instance, acme.Instances[0].ID, "instances by id")
	require.Equal(t, int64(3), acme.Instances[0].Media)
	require.Equal(t, "ACME-2", acme.Instances[1].ID)
	require.Zero(t, acme.Instances[1].Media)
	for _, i := range acme.Instances {
		require.True(t, i.HasWebhookSecret)
		require.True(t, i.HasWAPIToken)
	}

	require.Equal(t, "globex", tenants[1].Name)
	require.Equal(t, int64(1), tenants[1].Media)
	require.Zero(t, tenants[1].DiskBytes)
	require.Len(t, tenants[1].Instances, 1)
	require.Equal(t, int64(1), tenants[1].Instances[0].Media)

	require.Equal(t, "initech", tenants[2].Name)
	require.False(t, tenants[2].HasAPIToken)
	require.NotNil(t, tenants[2].Instances)
	require.Empty(t, tenants[2].Instances)
	require.Zero(t, tenants[2].Media)
}

func TestRotateAPIToken(t *testing.T) {
	b := setup(t)
	old, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "token")
	require.NoError(t, err)

	rot, err := b.op.RotateAPIToken(b.ctx, " globex ")
	require.NoError(t, err)
	require.Equal(t, old.ClienteID, rot.ClienteID)
	require.True(t, rot.Replaced)
	id, token := rot.ClienteID, rot.APIToken
	require.True(t, strings.HasPrefix(token, catalog.APITokenPrefix))
	require.Len(t, token, len(old.APIToken))
	require.NotEqual(t, old.APIToken, token)

	// The new token works, the old one no longer does.
	got, name, err := b.store.ClienteByAPIToken(b.ctx, token)
	require.NoError(t, err)
	require.Equal(t, old.ClienteID, got)
	require.Equal(t, "globex", name)
	_, _, err = b.store.ClienteByAPIToken(b.ctx, old.APIToken)
	require.ErrorIs(t, err, catalog.ErrNotFound)

	// Only the hash is stored.
	var hash []byte
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT api_token_hash FROM clientes WHERE id = $1`, id).Scan(&hash))
	want := catalog.HashSecret(token)
	require.Equal(t, want[:], hash)

	// The other cliente is untouched; an unknown one is not created.
	var other []byte
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT api_token_hash FROM clientes WHERE id = $1`, b.clienteID).Scan(&other))
	require.NotEqual(t, hash, other)
	_, err = b.op.RotateAPIToken(b.ctx, "initech")
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = b.op.RotateAPIToken(b.ctx, "  ")
	require.Error(t, err)
	var n int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(*) FROM clientes`).Scan(&n))
	require.Equal(t, 2, n)
}

func TestRotateWebhookSecret(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "globex-token")
	require.NoError(t, err)
	before, err := b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	var created, updated time.Time
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT created_at, updated_at FROM instances WHERE id = $1`, b.instance).Scan(&created, &updated))

	res, err := b.op.RotateWebhookSecret(b.ctx, b.instance)
	require.NoError(t, err)
	require.Equal(t, catalog.SecretRotation{
		InstanceID: b.instance, ClienteID: b.clienteID, ClienteName: "acme", WebhookSecret: res.WebhookSecret, HasWAPIToken: true, Provider: webhook.WAPI,
	}, res)
	require.True(t, strings.HasPrefix(res.WebhookSecret, catalog.WebhookSecretPrefix))

	after, err := b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Equal(t, catalog.HashSecret(res.WebhookSecret), after[b.instance].SecretHash)
	require.NotEqual(t, before[b.instance], after[b.instance])
	require.Equal(t, before[other.InstanceID], after[other.InstanceID], "other instances keep their secret")

	// The W-API token is kept; updated_at moves, created_at does not.
	var token string
	var created2, updated2 time.Time
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT wapi_token, created_at, updated_at FROM instances WHERE id = $1`, b.instance).Scan(&token, &created2, &updated2))
	require.Equal(t, "wapi-token", token)
	require.Equal(t, created, created2)
	require.True(t, updated2.After(updated))

	_, err = b.op.RotateWebhookSecret(b.ctx, "NOPE-1")
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = b.op.RotateWebhookSecret(b.ctx, "bad.id")
	require.ErrorIs(t, err, catalog.ErrInvalidInstanceID)
}

// A backup without secrets restores a cliente without an API token and
// instances without a W-API token; rotating gives them working secrets.
func TestRotate_AfterImportWithoutSecrets(t *testing.T) {
	b := setup(t)
	var buf bytes.Buffer
	_, err := b.op.Export(b.ctx, &buf, catalog.ExportOptions{})
	require.NoError(t, err)
	restored, _ := pgtest.NewStore(t)
	_, err = operator.New(restored).Import(b.ctx, &buf, catalog.ImportOptions{})
	require.NoError(t, err)

	tenants, err := operator.New(restored).ListRegistered(b.ctx)
	require.NoError(t, err)
	require.Len(t, tenants, 1)
	require.False(t, tenants[0].HasAPIToken)
	require.Len(t, tenants[0].Instances, 1)
	require.False(t, tenants[0].Instances[0].HasWAPIToken)
	require.True(t, tenants[0].Instances[0].HasWebhookSecret, "a random one nobody knows")

	rot, err := operator.New(restored).RotateAPIToken(b.ctx, "acme")
	require.NoError(t, err)
	require.False(t, rot.Replaced, "it had no token")
	got, _, err := restored.ClienteByAPIToken(b.ctx, rot.APIToken)
	require.NoError(t, err)
	require.Equal(t, rot.ClienteID, got)

	res, err := operator.New(restored).RotateWebhookSecret(b.ctx, b.instance)
	require.NoError(t, err)
	require.False(t, res.HasWAPIToken)
	hashes, err := restored.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Equal(t, catalog.HashSecret(res.WebhookSecret), hashes[b.instance].SecretHash)

	tenants, err = operator.New(restored).ListRegistered(b.ctx)
	require.NoError(t, err)
	require.True(t, tenants[0].HasAPIToken)
	require.False(t, tenants[0].Instances[0].HasWAPIToken, "rotate-secret does not invent a W-API token")
}

func TestSetInstanceDisabled(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "acme", "LITE-8NDQT1-UWX43P", "t")
	require.NoError(t, err)

	st, err := b.op.SetInstanceDisabled(b.ctx, b.instance, true)
	require.NoError(t, err)
	require.True(t, st.Changed)
	require.Equal(t, "acme", st.ClienteName)
	require.NotNil(t, st.DisabledAt)
	hashes, err := b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.NotContains(t, hashes, b.instance, "the ingests refuse a disabled instance")
	require.Contains(t, hashes, other.InstanceID)

	// Disabling again changes nothing and keeps the first moment.
	again, err := b.op.SetInstanceDisabled(b.ctx, b.instance, true)
	require.NoError(t, err)
	require.False(t, again.Changed)
	require.True(t, st.DisabledAt.Equal(*again.DisabledAt))

	// Listing shows it; tenant add keeps it disabled (and says so).
	tenants, err := b.op.ListRegistered(b.ctx)
	require.NoError(t, err)
	for _, i := range tenants[0].Instances {
		require.Equal(t, i.ID == b.instance, i.DisabledAt != nil, i.ID)
	}
	res, err := b.op.Register(b.ctx, "acme", b.instance, "new-token")
	require.NoError(t, err)
	require.True(t, res.Disabled)
	hashes, err = b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.NotContains(t, hashes, b.instance)

	// Enabling restores its (latest) secret.
	en, err := b.op.SetInstanceDisabled(b.ctx, b.instance, false)
	require.NoError(t, err)
	require.True(t, en.Changed)
	require.Nil(t, en.DisabledAt)
	hashes, err = b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Equal(t, catalog.HashSecret(res.WebhookSecret), hashes[b.instance].SecretHash)
	en, err = b.op.SetInstanceDisabled(b.ctx, b.instance, false)
	require.NoError(t, err)
	require.False(t, en.Changed)

	_, err = b.op.SetInstanceDisabled(b.ctx, "NOPE-1", true)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = b.op.SetInstanceDisabled(b.ctx, "a b", true)
	require.ErrorIs(t, err, catalog.ErrInvalidInstanceID)
}

// second is the other instance of cliente "acme" in the removal tests.
const second = "LITE-8NDQT1-UWX43P"

// removalSetup returns a bundle whose cliente "acme" has a second instance,
// a file store, and another cliente "globex".
func removalSetup(t *testing.T) (*testBundle, *blob.Local, catalog.Registration) {
	t.Helper()
	b := setup(t)
	files, err := blob.NewLocal(filepath.Join(t.TempDir(), "media"))
	require.NoError(t, err)
	_, err = b.op.Register(b.ctx, "acme", second, "t")
	require.NoError(t, err)
	globex, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	return b, files, globex
}

// TestRemoveInstance removes an instance with its media: a stored file is
// deleted only when no row of another instance uses it.
func TestRemoveInstance(t *testing.T) {
	b, files, globex := removalSetup(t)

	own := storeFile(t, files, b.clienteID, "only the removed instance's")
	b.succeeded(t, b.instance, own, time.Hour)
	b.succeeded(t, b.instance, own, time.Hour) // a forward: two rows, one file
	shared := storeFile(t, files, b.clienteID, "forwarded to the other instance too")
	b.succeeded(t, b.instance, shared, time.Hour)
	kept := b.succeeded(t, second, shared, time.Hour)
	gone := storeFile(t, files, b.clienteID, "already deleted by hand")
	b.succeeded(t, b.instance, gone, time.Hour)
	require.NoError(t, files.Remove(gone.Path))
	b.recordOne(t, descriptor(wamedia.Video)) // pending: no file
	theirs := storeFile(t, files, globex.ClienteID, "only the removed instance's")
	b.succeeded(t, globex.InstanceID, theirs, time.Hour)

	// Without --with-media it is refused, and nothing changes.
	r, err := housekeeping.RemoveInstance(b.ctx, b.op, files, b.instance, false)
	require.ErrorIs(t, err, catalog.ErrHasMedia)
	require.EqualValues(t, 5, r.Media)
	hashes, err := b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Contains(t, hashes, b.instance)

	r, err = housekeeping.RemoveInstance(b.ctx, b.op, files, b.instance, true)
	require.NoError(t, err)
	require.Equal(t, housekeeping.Removal{Removal: catalog.Removal{
		ClienteID: b.clienteID, ClienteName: "acme", Instances: []string{b.instance},
		Media: 5, Unsettled: 1, KeptFiles: 1,
	}, Files: 1, Bytes: own.Size, Missing: 1}, r)
	for path, want := range map[string]bool{own.Path: false, shared.Path: true, theirs.Path: true} {
		require.Equal(t, want, files.Exists(path), path)
	}
	require.NotNil(t, b.fileRow(t, kept).Path, "the other instance's row keeps its file (and stays a success)")

	var rows, chats, instances int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT
		(SELECT count(*) FROM media_files WHERE instance_id = $1),
		(SELECT count(*) FROM chats WHERE instance_id = $1),
		(SELECT count(*) FROM instances WHERE id = $1)`, b.instance).Scan(&rows, &chats, &instances))
	require.Zero(t, rows+chats+instances)
	hashes, err = b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.NotContains(t, hashes, b.instance)

	// The statistics follow: the cliente's disk use is the shared file's.
	st, err := b.op.Stats(b.ctx, b.clienteID)
	require.NoError(t, err)
	require.EqualValues(t, 1, st.Total)
	require.Equal(t, shared.Size, st.DiskBytes)
	require.NotContains(t, st.ByInstance, b.instance)
	tenants, err := b.op.ListRegistered(b.ctx)
	require.NoError(t, err)
	require.Len(t, tenants, 2, "the cliente stays")

	// An instance without media goes without --with-media.
	r, err = housekeeping.RemoveInstance(b.ctx, b.op, files, second, false)
	require.ErrorIs(t, err, catalog.ErrHasMedia)
	_, err = pgtest.DB(t, b.store).Exec(b.ctx, `DELETE FROM media_files WHERE instance_id = $1`, second)
	require.NoError(t, err)
	r, err = housekeeping.RemoveInstance(b.ctx, b.op, files, second, false)
	require.NoError(t, err)
	require.Zero(t, r.Media)

	_, err = housekeeping.RemoveInstance(b.ctx, b.op, files, b.instance, true)
	require.ErrorIs(t, err, catalog.ErrNotFound)
}

// TestRemoveCliente removes a cliente with every instance and file of it,
// and nothing of another cliente.
func TestRemoveCliente(t *testing.T) {
	b, files, globex := removalSetup(t)
	shared := storeFile(t, files, b.clienteID, "in both instances")
	b.succeeded(t, b.instance, shared, time.Hour)
	b.succeeded(t, second, shared, time.Hour)
	theirs := storeFile(t, files, globex.ClienteID, "in both instances")
	b.succeeded(t, globex.InstanceID, theirs, time.Hour)

	r, err := housekeeping.RemoveCliente(b.ctx, b.op, files, "acme", false)
	require.ErrorIs(t, err, catalog.ErrHasMedia)
	require.EqualValues(t, 2, r.Media)

	r, err = housekeeping.RemoveCliente(b.ctx, b.op, files, "acme", true)
	require.NoError(t, err)
	require.Equal(t, housekeeping.Removal{Removal: catalog.Removal{
		ClienteID: b.clienteID, ClienteName: "acme", Instances: []string{b.instance, second}, ClienteRemoved: true,
		Media: 2,
	}, Files: 1, Bytes: shared.Size}, r)
	require.False(t, files.Exists(shared.Path))
	require.True(t, files.Exists(theirs.Path), "another cliente's file is never touched")

	tenants, err := b.op.ListRegistered(b.ctx)
	require.NoError(t, err)
	require.Len(t, tenants, 1)
	require.Equal(t, "globex", tenants[0].Name)
	require.Equal(t, theirs.Size, tenants[0].DiskBytes)
	var left int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT
		(SELECT count(*) FROM media_stats WHERE cliente_id = $1) + (SELECT count(*) FROM stored_files WHERE cliente_id = $1) +
		(SELECT count(*) FROM stored_bytes WHERE cliente_id = $1)`, b.clienteID).Scan(&left))
	require.Zero(t, left, "no aggregate of the cliente is left")
	all, err := b.op.Stats(b.ctx, 0)
	require.NoError(t, err)
	require.EqualValues(t, 1, all.Total)

	// A cliente without media goes without --with-media; its name is free.
	_, err = b.op.Register(b.ctx, "initech", "INITECH-1", "t")
	require.NoError(t, err)
	r, err = housekeeping.RemoveCliente(b.ctx, b.op, files, "initech", false)
	require.NoError(t, err)
	require.True(t, r.ClienteRemoved)
	_, err = housekeeping.RemoveCliente(b.ctx, b.op, files, "acme", true)
	require.ErrorIs(t, err, catalog.ErrNotFound)
}
