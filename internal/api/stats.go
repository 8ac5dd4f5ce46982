package api

import (
	"errors"
	"net/http"
)

// statsJSON is the body of GET /v1/stats (see catalog.Stats).
type statsJSON struct {
	ClienteID   int64            `json:"cliente_id"`
	Total       int64            `json:"total"`
	ByType      map[string]int64 `json:"by_type"`
	ByStatus    map[string]int64 `json:"by_status"`
	ByReason    map[string]int64 `json:"by_reason"`
	ByInstance  map[string]int64 `json:"by_instance"`
	ByProvider  map[string]int64 `json:"by_provider"`
	ByIntegrity map[string]int64 `json:"by_integrity"` // stored files by how they were verified
	BytesStored int64            `json:"bytes_stored"`
	DiskBytes   int64            `json:"disk_bytes"`
	Retrying    int64            `json:"retrying"`
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	cliente := clienteOf(r)
	if cliente <= 0 { // Stats(0) counts every cliente
		h.internalError(w, r, errors.New("stats without an authenticated cliente"))
		return
	}
	st, err := h.store.Stats(r.Context(), cliente)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statsJSON{
		ClienteID: cliente, Total: st.Total, ByType: st.ByType, ByStatus: st.ByStatus, ByReason: st.ByReason,
		ByInstance: st.ByInstance, ByProvider: st.ByProvider, ByIntegrity: st.ByIntegrity, BytesStored: st.BytesStored, DiskBytes: st.DiskBytes, Retrying: st.Retrying,
	})
}
