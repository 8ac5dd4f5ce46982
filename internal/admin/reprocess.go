package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/job"
)

// reprocessTimeout bounds a reprocess action. It runs detached from the
// request, so that a client giving up does not stop it halfway.
const reprocessTimeout = 5 * time.Minute

// reprocessStatuses are the status sets the bulk form offers.
var reprocessStatuses = map[string][]string{
	"failed,expired": {catalog.StatusFailed, catalog.StatusExpired},
	"failed":         {catalog.StatusFailed},
	"expired":        {catalog.StatusExpired},
	"pending":        {catalog.StatusPending},
	"downloading":    {catalog.StatusDownloading},
}

func (h *Handler) reprocessOne(w http.ResponseWriter, r *http.Request, sess session) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	id, ok := pathID(w, r)
	if !ok || !h.checkCSRF(w, r, sess) || !h.canReprocess(w) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), reprocessTimeout)
	defer cancel()
	back := "/admin/media/" + strconv.FormatInt(id, 10)
	ref, err := job.ReprocessMedia(ctx, h.store, h.js, id)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		http.Error(w, "no such media", http.StatusNotFound)
		return
	case errors.Is(err, catalog.ErrNotReprocessable):
		redirectMsg(w, r, back, url.Values{"msg": {"not_reprocessable"}})
		return
	case err != nil && ref.ID != 0:
		// Reset but not queued: the row stays pending.
		h.log.Error("admin reprocess: publishing the download job", zap.Int64("media_id", id), zap.Error(err))
		redirectMsg(w, r, back, url.Values{"msg": {"publish_failed"}, "n": {"0"}})
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	h.log.Info("admin reprocess", zap.Int64("media_id", id), zap.String("media_type", string(ref.Type)))
	redirectMsg(w, r, back, url.Values{"msg": {"reprocessed"}})
}

func (h *Handler) reprocessMany(w http.ResponseWriter, r *http.Request, sess session) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !h.checkCSRF(w, r, sess) || !h.canReprocess(w) {
		return
	}
	statuses, ok := reprocessStatuses[r.PostFormValue("status")]
	if !ok {
		http.Error(w, fmt.Sprintf("status %q: want failed,expired, failed, expired, pending or downloading",
			r.PostFormValue("status")), http.StatusBadRequest)
		return
	}
	f := catalog.ReprocessFilter{Statuses: statuses}
	back := url.Values{}
	if s := r.PostFormValue("cliente"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			http.Error(w, fmt.Sprintf("cliente %q: want a cliente id", s), http.StatusBadRequest)
			return
		}
		f.ClienteID = id
		back.Set("cliente", s)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), reprocessTimeout)
	defer cancel()
	res, err := job.Reprocess(ctx, h.store, h.js, f, job.PublishOptions{})
	if err != nil && res.Reset == 0 {
		h.internalError(w, r, err)
		return
	}
	if res.Reset == 0 {
		back.Set("msg", "nothing")
		redirectMsg(w, r, "/admin/", back)
		return
	}
	queued := res.Queued
	log := h.log.With(zap.String("statuses", strings.Join(statuses, ",")), zap.Int64("cliente_id", f.ClienteID),
		zap.Int("reset", res.Reset), zap.Int("queued", queued))
	if err != nil {
		log.Error("admin reprocess: publishing download jobs", zap.Error(err))
		back.Set("msg", "publish_failed")
	} else {
		log.Info("admin reprocess")
		back.Set("msg", "queued")
	}
	back.Set("n", strconv.Itoa(queued))
	redirectMsg(w, r, "/admin/", back)
}

func (h *Handler) canReprocess(w http.ResponseWriter) bool {
	if h.js == nil {
		http.Error(w, "reprocessing is unavailable: this process has no JetStream connection", http.StatusServiceUnavailable)
		return false
	}
	return true
}

func redirectMsg(w http.ResponseWriter, r *http.Request, path string, q url.Values) {
	http.Redirect(w, r, path+"?"+q.Encode(), http.StatusSeeOther)
}
