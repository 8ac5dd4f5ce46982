package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// openAPIPath is where the API serves its OpenAPI document.
const openAPIPath = "/v1/openapi.json"

// openAPIDocument is the OpenAPI 3.1 description of the API: written by
// hand, the one source of truth of its shapes; the tests validate every
// answer they get against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIETag changes with the document.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDocument)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// serveOpenAPI answers the document, without a token.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", openAPIETag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(openAPIDocument))
}
