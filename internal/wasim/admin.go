package wasim

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

// adminRoutes adds the control endpoints, for tests and operators driving a
// running simulator over HTTP (it listens on loopback only):
//
//	GET    /_wasim/stats                 the counters (Stats)
//	GET    /_wasim/items                 every item: id, name, kind, type, directPath, media object
//	GET    /_wasim/faults                the global faults
//	PUT    /_wasim/faults                replace them: a JSON array of faults
//	DELETE /_wasim/faults                clear them
//	PUT    /_wasim/items/{id}/faults     replace an item's faults
//	DELETE /_wasim/items/{id}/faults     clear them
//	PUT    /_wasim/wapi                  {"mode":"base64","latency":"2s"}: download-media behaviour
//	PUT    /_wasim/items/{id}/wapi       {"mode":"gone"}: one item's download-media mode
//	GET    /_wasim/webhooks?n=&seed=     a mix of webhooks over every item, as JSON Lines
//
// A fault is {"kind":"error","rate":0.1,"times":2,"status":503,
// "delay":"250ms","retryAfter":"2s","after":1024,"location":"...",
// "bytesPerSecond":1}; see Fault.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_wasim/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /_wasim/items", func(w http.ResponseWriter, r *http.Request) {
		var out []map[string]any
		for _, it := range s.Items() {
			out = append(out, map[string]any{
				"id": it.ID, "name": it.Sample.Name, "kind": it.Sample.Kind, "type": it.Sample.Type,
				"directPath": it.DirectPath, "faults": it.Faults(), "media": it.MediaObject(),
			})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /_wasim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("PUT /_wasim/faults", func(w http.ResponseWriter, r *http.Request) {
		setFaults(w, r, s.SetFaults)
	})
	mux.HandleFunc("DELETE /_wasim/faults", func(w http.ResponseWriter, r *http.Request) {
		_ = s.SetFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /_wasim/items/{id}/faults", func(w http.ResponseWriter, r *http.Request) {
		if it := s.adminItem(w, r); it != nil {
			setFaults(w, r, it.SetFaults)
		}
	})
	mux.HandleFunc("DELETE /_wasim/items/{id}/faults", func(w http.ResponseWriter, r *http.Request) {
		if it := s.adminItem(w, r); it != nil {
			_ = it.SetFaults()
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("PUT /_wasim/wapi", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Mode, Latency string }
		if !decodeAdmin(w, r, &body) {
			return
		}
		if body.Mode != "" {
			m, err := ParseWAPIMode(body.Mode)
			if err != nil {
				httpError(w, http.StatusBadRequest, err.Error())
				return
			}
			s.SetWAPIMode(m)
		}
		if body.Latency != "" {
			d, err := time.ParseDuration(body.Latency)
			if err != nil {
				httpError(w, http.StatusBadRequest, err.Error())
				return
			}
			s.SetWAPILatency(d)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /_wasim/items/{id}/wapi", func(w http.ResponseWriter, r *http.Request) {
		it := s.adminItem(w, r)
		if it == nil {
			return
		}
		var body struct{ Mode string }
		if !decodeAdmin(w, r, &body) {
			return
		}
		var m WAPIMode
		if body.Mode != "" {
			var err error
			if m, err = ParseWAPIMode(body.Mode); err != nil {
				httpError(w, http.StatusBadRequest, err.Error())
				return
			}
		}
		it.SetWAPIMode(m)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_wasim/webhooks", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 || n > 100_000 {
			n = 50
		}
		seed, _ := strconv.ParseUint(q.Get("seed"), 10, 64)
		w.Header().Set("Content-Type", "application/x-ndjson")
		for _, h := range s.Mix(MixOptions{N: n, Seed: seed}) {
			_, _ = w.Write(append(h.Body, '\n'))
		}
	})
}

func (s *Server) adminItem(w http.ResponseWriter, r *http.Request) *Item {
	it := s.Item(r.PathValue("id"))
	if it == nil {
		httpError(w, http.StatusNotFound, "no such item")
	}
	return it
}

func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return false
	}
	return true
}

func setFaults(w http.ResponseWriter, r *http.Request, set func(...Fault) error) {
	var f []Fault
	if !decodeAdmin(w, r, &f) {
		return
	}
	if err := set(f...); err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
