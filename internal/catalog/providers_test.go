package catalog_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// TestRegisterEveryProvider: an instance of each provider is registered with
// its credentials; the ingest's load carries its provider, app secret and
// verify token hash; the list shows the provider, the base URL and which
// secrets are set, never a value.
func TestRegisterEveryProvider(t *testing.T) {
	b := setup(t)
	instances := []catalog.Instance{
		{ID: "loja-centro", Provider: webhook.Evolution, Credentials: catalog.Credentials{BaseURL: "https://evo.example.com", APIKey: "evo-key"}},
		{ID: "default", Provider: webhook.WAHA, Credentials: catalog.Credentials{BaseURL: "http://waha:3000"}},
		{ID: "3C01A9E5F1B2C3D4E5F6A7B8C9D0E1F2", Provider: webhook.ZAPI},
		{ID: "106540352242922", Provider: webhook.Meta, Credentials: catalog.Credentials{APIKey: "EAAG-token", AppSecret: "app-secret", VerifyToken: "verify-me"}},
	}
	for _, inst := range instances {
		res, err := b.op.RegisterInstance(b.ctx, "acme", inst)
		require.NoError(t, err, inst.Provider)
		require.True(t, res.InstanceCreated)
		require.Equal(t, inst.Provider, res.Provider)
	}
	auth, err := b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Len(t, auth, 5)
	require.Equal(t, webhook.WAPI, auth[b.instance].Provider, "existing instances are W-API")
	require.Equal(t, webhook.WAHA, auth["default"].Provider)
	require.Empty(t, auth["loja-centro"].AppSecret)
	require.Nil(t, auth["loja-centro"].VerifyTokenHash)
	meta := auth["106540352242922"]
	require.Equal(t, webhook.Meta, meta.Provider)
	require.Equal(t, "app-secret", meta.AppSecret)
	require.NotNil(t, meta.VerifyTokenHash)
	require.Equal(t, catalog.HashSecret("verify-me"), *meta.VerifyTokenHash, "only the verify token's hash is kept")
	var stored int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx,
		`SELECT count(*) FROM instances WHERE api_key = 'verify-me' OR app_secret = 'verify-me' OR wapi_token = 'verify-me'`).Scan(&stored))
	require.Zero(t, stored)

	list, err := b.op.ListRegistered(b.ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	byID := map[string]catalog.RegisteredInstance{}
	for _, i := range list[0].Instances {
		byID[i.ID] = i
	}
	require.Equal(t, webhook.WAPI, byID[b.instance].Provider)
	require.True(t, byID[b.instance].HasWAPIToken)
	evo := byID["loja-centro"]
	require.Equal(t, webhook.Evolution, evo.Provider)
	require.Equal(t, "https://evo.example.com", evo.BaseURL)
	require.True(t, evo.HasAPIKey)
	require.False(t, evo.HasWAPIToken)
	require.False(t, byID["default"].HasAPIKey, "WAHA without an API key")
	require.False(t, byID["3C01A9E5F1B2C3D4E5F6A7B8C9D0E1F2"].HasAPIKey)
	m := byID["106540352242922"]
	require.True(t, m.HasAPIKey && m.HasAppSecret && m.HasVerifyToken)

	// Registering again may change the provider; it rotates the secret
	// and replaces every credential.
	res, err := b.op.RegisterInstance(b.ctx, "acme", catalog.Instance{ID: "loja-centro", Provider: webhook.ZAPI})
	require.NoError(t, err)
	require.False(t, res.InstanceCreated)
	require.Equal(t, webhook.Evolution, res.PreviousProvider)
	auth, err = b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Equal(t, webhook.ZAPI, auth["loja-centro"].Provider)
	var baseURL, apiKey *string
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT base_url, api_key FROM instances WHERE id = 'loja-centro'`).Scan(&baseURL, &apiKey))
	require.Nil(t, baseURL)
	require.Nil(t, apiKey)

	rot, err := b.op.RotateWebhookSecret(b.ctx, "106540352242922")
	require.NoError(t, err)
	require.Equal(t, webhook.Meta, rot.Provider)
	require.True(t, rot.HasAppSecret)
}

// TestCredentialsCheck: every missing credential of a provider is named in
// one error, then the ones it does not use; a base URL must be http(s).
func TestCredentialsCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    webhook.Provider
		c    catalog.Credentials
		want string // "" for none
	}{
		{webhook.WAPI, catalog.Credentials{WAPIToken: "t"}, ""},
		{webhook.WAPI, catalog.Credentials{}, "provider wapi: missing credentials: W-API token"},
		{webhook.WAPI, catalog.Credentials{WAPIToken: "t", BaseURL: "https://x"}, "provider wapi does not use: base URL"},
		{webhook.Evolution, catalog.Credentials{}, "missing credentials: base URL, API key"},
		{webhook.Evolution, catalog.Credentials{BaseURL: "evo.example.com", APIKey: "k"}, `base URL "evo.example.com": want http(s)://`},
		{webhook.Evolution, catalog.Credentials{BaseURL: "ftp://evo", APIKey: "k"}, "want http(s)://"},
		{webhook.WAHA, catalog.Credentials{BaseURL: "http://waha:3000"}, ""},
		{webhook.WAHA, catalog.Credentials{APIKey: "k", AppSecret: "s"}, "missing credentials: base URL"},
		{webhook.WAHA, catalog.Credentials{BaseURL: "http://waha", AppSecret: "s", WAPIToken: "t"}, "does not use: W-API token, app secret"},
		{webhook.ZAPI, catalog.Credentials{}, ""},
		{webhook.ZAPI, catalog.Credentials{APIKey: "client"}, ""},
		{webhook.Meta, catalog.Credentials{}, "missing credentials: access token, verify token"},
		{webhook.Meta, catalog.Credentials{APIKey: "a", VerifyToken: "v"}, ""},
		{webhook.Meta, catalog.Credentials{APIKey: "a", VerifyToken: "v", BaseURL: "https://graph"}, "does not use: base URL"},
		{"telegram", catalog.Credentials{}, "unknown provider"},
	} {
		err := tc.c.Check(tc.p)
		if tc.want == "" {
			require.NoError(t, err, "%s %+v", tc.p, tc.c)
			continue
		}
		require.ErrorContains(t, err, tc.want, tc.p)
	}
	require.ErrorIs(t, catalog.Credentials{}.Check(webhook.Meta), catalog.ErrMissingCredentials)
}

// TestExportImportProviders: an instance's provider and base URL travel in
// every backup; its API key, app secret and verify token hash only with
// secrets, after which the target authenticates it exactly as the source.
func TestExportImportProviders(t *testing.T) {
	b := setup(t)
	for _, inst := range []catalog.Instance{
		{ID: "loja-centro", Provider: webhook.Evolution, Credentials: catalog.Credentials{BaseURL: "https://evo.example.com", APIKey: "evo-secret-key"}},
		{ID: "106540352242922", Provider: webhook.Meta, Credentials: catalog.Credentials{APIKey: "meta-access", AppSecret: "meta-app-secret", VerifyToken: "meta-verify"}},
	} {
		_, err := b.op.RegisterInstance(b.ctx, "acme", inst)
		require.NoError(t, err)
	}
	source, err := b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)

	bare, _ := exportLines(t, b, b.store, catalog.ExportOptions{})
	all := strings.Join(bare, "\n")
	require.Contains(t, all, `"provider":"evolution"`)
	require.Contains(t, all, `"base_url":"https://evo.example.com"`)
	for _, s := range []string{"evo-secret-key", "meta-access", "meta-app-secret", `"verify_token_hash"`, `"api_key"`, `"app_secret"`} {
		require.NotContains(t, all, s)
	}
	target, _ := pgtest.NewStore(t)
	importLines(t, b, target, bare)
	restored, err := target.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Equal(t, webhook.Meta, restored["106540352242922"].Provider)
	require.Empty(t, restored["106540352242922"].AppSecret)
	require.Nil(t, restored["106540352242922"].VerifyTokenHash)
	require.NotEqual(t, source["106540352242922"].SecretHash, restored["106540352242922"].SecretHash)

	full, _ := exportLines(t, b, b.store, catalog.ExportOptions{Secrets: true})
	target, _ = pgtest.NewStore(t)
	importLines(t, b, target, full)
	restored, err = target.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Equal(t, source, restored)
	var key string
	require.NoError(t, pgtest.DB(t, target).QueryRow(b.ctx, `SELECT api_key FROM instances WHERE id = 'loja-centro'`).Scan(&key))
	require.Equal(t, "evo-secret-key", key)
}

// TestRecordProviderOrigins: items of WAHA (a plain file at a URL), Meta (a
// Graph API media id) and W-API (a CDN blob) are recorded with where their
// bytes are and how they will be verified; the download job reads it back,
// the rows show their provider and can be listed by it, and the statistics
// count them by provider and, once stored, by integrity.
func TestRecordProviderOrigins(t *testing.T) {
	b := setup(t)
	for _, inst := range []catalog.Instance{
		{ID: "default", Provider: webhook.WAHA, Credentials: catalog.Credentials{BaseURL: "http://waha:3000", APIKey: "k"}},
		{ID: "106540352242922", Provider: webhook.Meta, Credentials: catalog.Credentials{APIKey: "EAAG-token", VerifyToken: "v"}},
	} {
		_, err := b.op.RegisterInstance(b.ctx, "acme", inst)
		require.NoError(t, err)
	}
	plain := wamedia.Descriptor{Type: wamedia.Audio, Class: wamedia.ClassAudio, Mimetype: "audio/ogg"}
	waha := b.message(plain)
	waha.InstanceID = "default"
	waha.Origins = []catalog.Origin{{Source: webhook.SourceFile, FileURL: "http://waha:3000/api/files/default/a.oga", Integrity: webhook.IntegrityContentOnly}}
	meta := b.message(wamedia.Descriptor{Type: wamedia.Image, Class: wamedia.ClassImage, FileSHA256: make([]byte, 32)})
	meta.InstanceID = "106540352242922"
	meta.Origins = []catalog.Origin{{Source: webhook.SourceGraph, MediaID: "1003", Integrity: webhook.IntegritySHA256}}
	for _, m := range []*catalog.Message{&waha, &meta} {
		for i := range m.Media {
			m.Media[i].Downloadable, m.Media[i].Problems = true, []string{}
		}
	}
	wapi := b.message(descriptor(wamedia.Video))
	rec := b.record(t, waha, meta, wapi)
	require.Len(t, rec, 3)

	job, err := b.store.LoadDownload(b.ctx, rec[0].MediaID)
	require.NoError(t, err)
	require.Equal(t, catalog.StatusPending, job.Status)
	require.Equal(t, "file", job.Source)
	require.Equal(t, "http://waha:3000/api/files/default/a.oga", job.Descriptor.URL)
	require.Equal(t, "content_only", job.Integrity)
	require.Equal(t, "waha", job.Provider)
	job, err = b.store.LoadDownload(b.ctx, rec[1].MediaID)
	require.NoError(t, err)
	require.Equal(t, "graph", job.Source)
	require.Equal(t, "1003", job.ProviderMediaID)
	require.Equal(t, "sha256", job.Integrity)
	require.Equal(t, "EAAG-token", job.ProviderKey)
	job, err = b.store.LoadDownload(b.ctx, rec[2].MediaID)
	require.NoError(t, err)
	require.Equal(t, "cdn", job.Source)
	require.Equal(t, "sha256+hmac", job.Integrity)

	require.NoError(t, b.store.Succeed(b.ctx, rec[0].MediaID, catalog.Stored{Path: "1/aa/bb/a.oga", Size: 10, SHA256: make([]byte, 32)}))
	require.NoError(t, b.store.Succeed(b.ctx, rec[2].MediaID, catalog.Stored{Path: "1/aa/bb/v.mp4", Size: 20, SHA256: make([]byte, 32), Integrity: "sha256"}))
	page, err := b.store.ListMedia(b.ctx, rec[0].ClienteID, catalog.MediaFilter{Provider: "waha"})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, "waha", page.Items[0].Provider)
	require.Equal(t, "file", page.Items[0].Source)
	require.Equal(t, "content_only", page.Items[0].Integrity)
	page, err = b.store.ListMedia(b.ctx, rec[0].ClienteID, catalog.MediaFilter{Provider: "wapi"})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, "sha256", page.Items[0].Integrity, "a CDN item verified through a fallback keeps its sha256 only")

	// The outbound event says so too.
	var provider, integrity string
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx,
		`SELECT data->>'provider', data->>'integrity' FROM media_events WHERE media_id = $1`, rec[0].MediaID).Scan(&provider, &integrity))
	require.Equal(t, "waha content_only", provider+" "+integrity)

	st, err := b.op.Stats(b.ctx, rec[0].ClienteID)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"waha": 1, "meta": 1, "wapi": 1}, st.ByProvider)
	require.Equal(t, map[string]int64{"content_only": 1, "sha256": 1}, st.ByIntegrity)
	requireExact(t, b.ctx, b.store, "providers")
}
