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

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/job"
)

// reprocessTimeout bounds a reprocess action. It runs detached from the
// request, so that a client giving up does not stop it halfway.
const reprocessTimeout = 5 * time.Minute

// publishBatch is how many jobs are in flight at once while publishing, and
// publishAckWait how long a batch may wait for its acks.
const (
	publishBatch   = 256
	publishAckWait = 30 * time.Second
)

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
	ref, err := h.store.ResetMediaForReprocess(ctx, id)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		http.Error(w, "no such media", http.StatusNotFound)
		return
	case errors.Is(err, catalog.ErrNotReprocessable):
		redirectMsg(w, r, back, url.Values{"msg": {"not_reprocessable"}})
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	if _, err := h.publish(ctx, []catalog.PendingDownload{ref}); err != nil {
		h.log.Error("admin reprocess: publishing the download job", zap.Int64("media_id", id), zap.Error(err))
		redirectMsg(w, r, back, url.Values{"msg": {"publish_failed"}, "n": {"0"}})
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
	refs, err := h.store.ResetForReprocess(ctx, f)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	if len(refs) == 0 {
		back.Set("msg", "nothing")
		redirectMsg(w, r, "/admin/", back)
		return
	}
	queued, err := h.publish(ctx, refs)
	log := h.log.With(zap.String("statuses", strings.Join(statuses, ",")), zap.Int64("cliente_id", f.ClienteID),
		zap.Int("reset", len(refs)), zap.Int("queued", queued))
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

// publish queues a fresh download job for every row (a new generation, so
// JetStream's duplicate window does not drop the replay), a batch at a
// time, and returns how many the stream acknowledged before an error.
func (h *Handler) publish(ctx context.Context, refs []catalog.PendingDownload) (int, error) {
	generation := "a" + strconv.FormatInt(time.Now().UnixNano(), 36)
	queued := 0
	futures := make([]jetstream.PubAckFuture, 0, publishBatch)
	for start := 0; start < len(refs); start += publishBatch {
		futures = futures[:0]
		for _, ref := range refs[start:min(start+publishBatch, len(refs))] {
			f, err := job.PublishAsync(h.js, job.Download{MediaID: ref.ID, ClienteID: ref.ClienteID, InstanceID: ref.InstanceID, Type: ref.Type}, generation)
			if err != nil {
				return queued, fmt.Errorf("publishing download job %d: %w", ref.ID, err)
			}
			futures = append(futures, f)
		}
		wait := time.NewTimer(publishAckWait)
		for _, f := range futures {
			select {
			case <-f.Ok():
				queued++
			case err := <-f.Err():
				wait.Stop()
				return queued, fmt.Errorf("publishing download job: %w", err)
			case <-wait.C:
				return queued, fmt.Errorf("publishing download jobs: no ack within %s", publishAckWait)
			case <-ctx.Done():
				wait.Stop()
				return queued, ctx.Err()
			}
		}
		wait.Stop()
	}
	return queued, nil
}

func redirectMsg(w http.ResponseWriter, r *http.Request, path string, q url.Values) {
	http.Redirect(w, r, path+"?"+q.Encode(), http.StatusSeeOther)
}
