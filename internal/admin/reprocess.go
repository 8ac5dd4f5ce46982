package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
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

// replayFails are the failure reasons a reprocess would only repeat, with
// why: they are facts about the message and its bytes, not about the network,
// and a new download fetches the same blob (its encrypted SHA-256 pins it)
// and judges it the same way. The bulk form leaves them out unless the
// operator ticks them (after a release that changed a check, say).
// missing_fields is never reprocessed at all: there is nothing to download.
var replayFails = map[string]string{
	"type_mismatch":       "the content is not the declared media type: the same bytes come back",
	"plain_hash_mismatch": "the decrypted file differs from the message's fileSha256",
	"mac_mismatch":        "the media key does not authenticate the blob: wrong key or key class",
	"bad_padding":         "the blob is authentic but its padding is invalid: the sender's encryption is broken",
	"too_large":           "larger than MAX_MEDIA_BYTES: fails again unless the limit was raised",
}

// maxReasons bounds the reasons a confirmation posts.
const maxReasons = 64

// reprocessData is the bulk reprocess's confirmation page.
type reprocessData struct {
	Status    string // the form's status set, as posted
	Statuses  string // the same in words: failed and expired
	ClienteID int64
	Cliente   string // its name, when one
	Reasons   []reasonChoice
	Selected  int64 // rows of the reasons ticked by default
	Total     int64
}

// reasonChoice is one failure reason of the rows a reprocess would reset.
type reasonChoice struct {
	Reason   string // "" for rows without one (pending, downloading)
	N        int64
	Statuses string // "failed 3, expired 1"
	Fails    string // why a replay fails again; empty when it may succeed
}

// reprocessMany resets rows of some statuses (and cliente) to pending and
// queues their downloads, in two steps: the first post answers a
// confirmation page with the rows by reason, the reasons a replay would only
// repeat unticked; the confirmed form (confirm=1) resets the rows of the
// reasons ticked there.
func (h *Handler) reprocessMany(w http.ResponseWriter, r *http.Request, sess session) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !h.checkCSRF(w, r, sess) || !h.canReprocess(w) {
		return
	}
	status := r.PostFormValue("status")
	statuses, ok := reprocessStatuses[status]
	if !ok {
		http.Error(w, fmt.Sprintf("status %q: want failed,expired, failed, expired, pending or downloading", status),
			http.StatusBadRequest)
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
	if r.PostFormValue("confirm") != "1" {
		h.confirmReprocess(w, r, sess, status, f)
		return
	}
	f.Reasons = r.PostForm["reason"]
	if len(f.Reasons) > maxReasons {
		http.Error(w, fmt.Sprintf("%d reasons: at most %d", len(f.Reasons), maxReasons), http.StatusBadRequest)
		return
	}
	if len(f.Reasons) == 0 {
		back.Set("msg", "nothing")
		redirectMsg(w, r, "/admin/", back)
		return
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
		zap.Strings("reasons", f.Reasons), zap.Int("reset", res.Reset), zap.Int("queued", queued))
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

// confirmReprocess answers the confirmation page of a bulk reprocess: what
// the filter would reset now, by reason.
func (h *Handler) confirmReprocess(w http.ResponseWriter, r *http.Request, sess session, status string, f catalog.ReprocessFilter) {
	ctx := r.Context()
	preview, err := h.lists.ReprocessPreview(ctx, f)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	d := &reprocessData{Status: status, Statuses: strings.Join(f.Statuses, " and "), ClienteID: f.ClienteID}
	if f.ClienteID != 0 {
		clientes, err := h.lists.Clientes(ctx)
		if err != nil {
			h.internalError(w, r, err)
			return
		}
		d.Cliente = clienteNames(clientes)[f.ClienteID]
	}
	d.Reasons = reasonChoices(preview)
	for _, c := range d.Reasons {
		d.Total += c.N
		if c.Fails == "" {
			d.Selected += c.N
		}
	}
	h.render(w, r, http.StatusOK, "reprocess", page{Title: "Reprocess", Nav: "overview", CSRF: sess.csrf, Data: d})
}

// reasonChoices groups a preview by reason, the largest first.
func reasonChoices(preview []catalog.ReasonCount) []reasonChoice {
	var out []reasonChoice
	at := map[string]int{}
	for _, p := range preview {
		i, ok := at[p.Reason]
		if !ok {
			i = len(out)
			at[p.Reason] = i
			out = append(out, reasonChoice{Reason: p.Reason, Fails: replayFails[p.Reason]})
		}
		c := &out[i]
		c.N += p.N
		if c.Statuses != "" {
			c.Statuses += ", "
		}
		c.Statuses += p.Status + " " + strconv.FormatInt(p.N, 10)
	}
	slices.SortStableFunc(out, func(a, b reasonChoice) int { return cmp.Compare(b.N, a.N) })
	return out
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
