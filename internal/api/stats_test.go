package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStats(t *testing.T) {
	f := newFixture(t)
	stats := func(token string) map[string]any {
		t.Helper()
		resp, body := f.get(t, token, "/v1/stats")
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		var m map[string]any
		require.NoError(t, json.Unmarshal(body, &m))
		return m
	}
	size := float64(len(f.imageContent) + len(f.documentContent))
	require.Equal(t, map[string]any{
		"cliente_id":   float64(f.a.id),
		"total":        float64(6),
		"by_provider":  map[string]any{"wapi": 6.0},
		"by_integrity": map[string]any{"sha256+hmac": 2.0},
		"by_type":      map[string]any{"image": 2.0, "video": 1.0, "audio": 1.0, "document": 1.0, "sticker": 1.0},
		"by_status":    map[string]any{"success": 2.0, "pending": 2.0, "failed": 1.0, "expired": 1.0},
		"by_reason":    map[string]any{"mac_mismatch": 1.0, "expired": 1.0},
		"by_instance":  map[string]any{f.a.instances[0]: 5.0, f.a.instances[1]: 1.0},
		"bytes_stored": size,
		"disk_bytes":   size,
		"retrying":     1.0,
	}, stats(f.a.token))

	g := stats(f.b.token)
	require.Equal(t, 2.0, g["total"])
	require.Equal(t, map[string]any{f.b.instances[0]: 2.0}, g["by_instance"])
}
