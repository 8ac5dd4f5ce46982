package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/multichat/mediapipe/internal/app"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/wasim"
)

// pipeline is the whole mediapipe in this process (`mediapipe run`: ingest,
// analyzer, downloader and an embedded NATS server), on a schema of the
// test database, against a simulator, with every log line at debug level
// captured as JSON.
type pipeline struct {
	t       *testing.T
	store   *catalog.Store
	a       *app.App
	sim     *wasim.Server
	logs    *proctest.LockedBuffer
	media   string
	base    string // http://127.0.0.1:port
	secrets map[string]string
	wapi    map[string]string // instance → W-API token
	api     map[string]string // instance → its cliente's API token
	stop    func()
}

// newPipeline starts a pipeline with the instances pro and lite of two
// clientes; env overrides the configuration.
func newPipeline(t *testing.T, env map[string]string) *pipeline {
	t.Helper()
	store, dbURL := pgtest.NewStore(t)
	sim, err := wasim.New(wasim.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { sim.Close() })
	p := &pipeline{t: t, store: store, sim: sim, logs: &proctest.LockedBuffer{},
		secrets: map[string]string{}, wapi: map[string]string{}, api: map[string]string{}}
	ctx := context.Background()
	for i, inst := range []string{wasim.InstancePro, wasim.InstanceLite} {
		tok := fmt.Sprintf("wapi-secret-token-%d-%s", i, strings.Repeat("k", 12))
		res, err := operator.New(store).Register(ctx, fmt.Sprintf("Cliente %d", i), inst, tok)
		require.NoError(t, err)
		p.secrets[inst], p.wapi[inst], p.api[inst] = res.WebhookSecret, tok, res.APIToken
		sim.AddInstance(inst, tok)
	}

	data := t.TempDir()
	p.media = filepath.Join(data, "media")
	vars := map[string]string{
		"DATABASE_URL": dbURL, "DATA_DIR": data, "MEDIA_DIR": p.media,
		"WHATSAPP_CDN_BASE_URL": sim.CDNBaseURL(), "WAPI_BASE_URL": sim.WAPIBaseURL(),
		"LOG_LEVEL": "debug",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, errs := config.Load(func(k string) string { return vars[k] })
	require.Empty(t, errs)
	require.NoError(t, cfg.Validate())

	enc := zap.NewProductionEncoderConfig()
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(p.logs), zap.DebugLevel))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.a, err = app.Open(ctx, cfg, log, app.Options{
		Roles: app.All, Listener: ln, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	p.base = "http://" + p.a.Addr()
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.a.Run(runCtx) }()
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(time.Minute):
				t.Error("the pipeline did not stop within a minute")
			}
			_ = ln.Close()
		})
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- pipeline log:\n%s", proctest.Tail(p.logs.String(), 6000))
		}
	})
	return p
}

// webhook renders a message webhook carrying media object obj of kind.
func webhook(instance, messageID, kind string, obj map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"event": "webhookReceived", "instanceId": instance, "connectedPhone": "5511900000000",
		"isGroup": false, "messageId": messageID, "fromMe": false,
		"chat":   map[string]any{"id": "5511911112222"},
		"sender": map[string]any{"id": "5511911112222", "pushName": "Maria"},
		"moment": time.Now().Unix(), "msgContent": map[string]any{kind: obj},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// post sends a webhook with the instance's secret in the query and returns
// the status.
func (p *pipeline) post(instance string, body []byte) int {
	p.t.Helper()
	resp, err := http.Post(p.base+"/webhooks/wapi?token="+p.secrets[instance], "application/json", bytes.NewReader(body))
	require.NoError(p.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

type mediaRow struct {
	Status, Reason, Path, FileName string
	ClienteID                      int64
}

// waitRows waits until every message of instance has a row in a final
// status and returns them by message id.
func (p *pipeline) waitRows(instance string, ids []string) map[string]mediaRow {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		rows := map[string]mediaRow{}
		rs, err := pgtest.DB(p.t, p.store).Query(context.Background(), `
			SELECT message_id, download_status, coalesce(failure_reason, ''), coalesce(file_path, ''),
				coalesce(file_name, ''), cliente_id
			FROM media_files WHERE instance_id = $1 AND message_id = ANY($2)`, instance, ids)
		require.NoError(p.t, err)
		final := 0
		for rs.Next() {
			var id string
			var r mediaRow
			require.NoError(p.t, rs.Scan(&id, &r.Status, &r.Reason, &r.Path, &r.FileName, &r.ClienteID))
			rows[id] = r
			if r.Status == "success" || r.Status == "failed" || r.Status == "expired" {
				final++
			}
		}
		rs.Close()
		require.NoError(p.t, rs.Err())
		if final == len(ids) {
			return rows
		}
		require.True(p.t, time.Now().Before(deadline), "%d of %d rows final: %+v", final, len(ids), rows)
		time.Sleep(25 * time.Millisecond)
	}
}
