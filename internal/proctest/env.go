package proctest

import (
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/multichat/mediapipe/internal/wasim"
)

// Environ returns the whole environment of a subprocess: PATH, HOME and
// TMPDIR of this process, then the variables of vars, a key of a later map
// overriding the same key of an earlier one.
func Environ(vars ...map[string]string) []string {
	merged := map[string]string{}
	for _, m := range vars {
		maps.Copy(merged, m)
	}
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		out = append(out, k+"="+merged[k])
	}
	return out
}

// MediapipeEnv returns the variables every mediapipe process of a
// deployment under test shares: its PostgreSQL and NATS URLs, DATA_DIR
// dataDir with MEDIA_DIR dataDir/media, sim standing in for WhatsApp's CDN
// and W-API, and JSON logs at level info. HTTP_ADDR is each process's own.
func MediapipeEnv(databaseURL, natsURL, dataDir string, sim *wasim.Server) map[string]string {
	return map[string]string{
		"DATABASE_URL":          databaseURL,
		"NATS_URL":              natsURL,
		"DATA_DIR":              dataDir,
		"MEDIA_DIR":             filepath.Join(dataDir, "media"),
		"WHATSAPP_CDN_BASE_URL": sim.CDNBaseURL(),
		"WAPI_BASE_URL":         sim.WAPIBaseURL(),
		"ZAPI_STORAGE_BASE_URL": sim.ZAPIStorageBaseURL(),
		"META_GRAPH_BASE_URL":   sim.MetaGraphBaseURL(),
		"META_GRAPH_VERSION":    wasim.MetaGraphVersion,
		"LOG_FORMAT":            "json",
		"LOG_LEVEL":             "info",
	}
}
