package api

import (
	"errors"
	"net/http"
)

// statsJSON has the field names of `mediapipe stats --json`.
type statsJSON struct {
	Cliente     int64            `json:"cliente"`
	Total       int64            `json:"total"`
	ByType      map[string]int64 `json:"byType"`
	ByStatus    map[string]int64 `json:"byStatus"`
	ByReason    map[string]int64 `json:"byReason"`
	ByInstance  map[string]int64 `json:"byInstance"`
	BytesStored int64            `json:"bytesStored"`
	DiskBytes   int64            `json:"diskBytes"`
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
		Cliente: cliente, Total: st.Total, ByType: st.ByType, ByStatus: st.ByStatus, ByReason: st.ByReason,
		ByInstance: st.ByInstance, BytesStored: st.BytesStored, DiskBytes: st.DiskBytes, Retrying: st.Retrying,
	})
}
