package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/job"
)

// deadLetterLimit bounds the records the page lists.
const deadLetterLimit = 200

// deadLetterSince are the periods the page's filter offers.
var deadLetterSince = []string{"1h", "24h", "168h"}

// deadLetterForm is the page's filter, as the query or form carries it.
type deadLetterForm struct {
	Stream, Reason, Since string
}

func (f deadLetterForm) filter(now time.Time) (bus.DeadLetterFilter, error) {
	out := bus.DeadLetterFilter{Stream: f.Stream, Reason: strings.TrimSpace(f.Reason)}
	switch f.Stream {
	case "", bus.StreamWebhooks, bus.StreamDownloads:
	default:
		return out, fmt.Errorf("stream %q: want %s or %s", f.Stream, bus.StreamWebhooks, bus.StreamDownloads)
	}
	if f.Since != "" {
		if !slices.Contains(deadLetterSince, f.Since) {
			return out, fmt.Errorf("since %q: want one of %s", f.Since, strings.Join(deadLetterSince, ", "))
		}
		d, _ := time.ParseDuration(f.Since)
		out.Since = now.Add(-d)
	}
	return out, nil
}

func (f deadLetterForm) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"stream": f.Stream, "reason": f.Reason, "since": f.Since} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func deadLetterFormOf(get func(string) string) deadLetterForm {
	return deadLetterForm{Stream: strings.ToUpper(get("stream")), Reason: get("reason"), Since: get("since")}
}

// deadLettersData is the dead-letter page: the list, or (Confirm) what a
// replay would do, to be confirmed.
type deadLettersData struct {
	Form      deadLetterForm
	Streams   []string
	SinceOpts []string
	Records   []bus.DeadLetter
	Truncated bool
	CanReplay bool
	Confirm   *job.ReplayReport
	Seqs      []uint64 // the records a replay form posts: listed and not replayed, or confirmed
	Again     bool
}

func (h *Handler) deadLetters(w http.ResponseWriter, r *http.Request, sess session) {
	q := r.URL.Query()
	p := page{Title: "Dead letters", Nav: "deadletters", CSRF: sess.csrf, Flash: deadLetterFlash(q)}
	d := &deadLettersData{Form: deadLetterFormOf(q.Get), Streams: []string{bus.StreamWebhooks, bus.StreamDownloads},
		SinceOpts: deadLetterSince, CanReplay: h.js != nil}
	p.Data = d
	if h.js == nil {
		p.Error = "Dead letters are unavailable: this process has no JetStream connection."
		h.render(w, r, http.StatusServiceUnavailable, "deadletters", p)
		return
	}
	f, err := d.Form.filter(h.now())
	if err != nil {
		p.Error = "Bad filter: " + err.Error()
		h.render(w, r, http.StatusBadRequest, "deadletters", p)
		return
	}
	f.Limit = deadLetterLimit + 1
	recs, err := bus.ListDeadLetters(r.Context(), h.js, f)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	if len(recs) > deadLetterLimit {
		recs, d.Truncated = recs[:deadLetterLimit], true
	}
	d.Records = recs
	for _, rec := range recs {
		if rec.Replayed == nil {
			d.Seqs = append(d.Seqs, rec.Seq)
		}
	}
	h.render(w, r, http.StatusOK, "deadletters", p)
}

// replayDeadLetters replays the posted records (seq): one chosen on the list,
// or every record the list showed and had not replayed ("replay all" posts
// their numbers, so that records arriving after the page was drawn are not
// taken in). It first answers a confirmation page listing what the replay
// would do (a dry run); the confirmed form (confirm=1) replays exactly the
// records that page listed.
func (h *Handler) replayDeadLetters(w http.ResponseWriter, r *http.Request, sess session) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !h.checkCSRF(w, r, sess) {
		return
	}
	if h.js == nil {
		http.Error(w, "replaying is unavailable: this process has no JetStream connection", http.StatusServiceUnavailable)
		return
	}
	form := deadLetterFormOf(r.PostFormValue)
	f, err := form.filter(h.now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, s := range r.PostForm["seq"] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			http.Error(w, fmt.Sprintf("seq %q: want a record number", s), http.StatusBadRequest)
			return
		}
		f.Seqs = append(f.Seqs, n)
	}
	if len(f.Seqs) == 0 {
		http.Error(w, "say which records: seq", http.StatusBadRequest)
		return
	}
	o := job.ReplayOptions{DeadLetterFilter: f, Again: r.PostFormValue("again") == "1"}
	if r.PostFormValue("confirm") != "1" {
		o.DryRun = true
		rep, err := job.ReplayDeadLetters(r.Context(), h.store, h.js, o)
		if err != nil {
			h.internalError(w, r, err)
			return
		}
		d := &deadLettersData{Form: form, CanReplay: true, Confirm: &rep, Again: o.Again}
		for _, it := range rep.Items {
			if it.Outcome == job.WouldReplay {
				d.Seqs = append(d.Seqs, it.Record.Seq)
			}
		}
		h.render(w, r, http.StatusOK, "deadletters", page{Title: "Replay dead letters", Nav: "deadletters", CSRF: sess.csrf, Data: d})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), reprocessTimeout)
	defer cancel()
	rep, err := job.ReplayDeadLetters(ctx, h.store, h.js, o)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	h.log.Info("admin dead-letter replay", zap.Int("replayed", rep.Replayed), zap.Int("skipped", rep.Skipped), zap.Int("failed", rep.Failed))
	for _, it := range rep.Items {
		if it.Outcome == job.ReplayFailed {
			h.log.Error("admin dead-letter replay: a record failed", zap.Uint64("seq", it.Record.Seq), zap.String("error", it.Detail))
		}
	}
	back := form.query()
	back.Set("msg", "replayed")
	back.Set("n", strconv.Itoa(rep.Replayed))
	back.Set("skipped", strconv.Itoa(rep.Skipped))
	back.Set("failed", strconv.Itoa(rep.Failed))
	redirectMsg(w, r, "/admin/deadletters", back)
}

func deadLetterFlash(q url.Values) *flash {
	if q.Get("msg") != "replayed" {
		return nil
	}
	n, _ := strconv.Atoi(q.Get("n"))
	skipped, _ := strconv.Atoi(q.Get("skipped"))
	failed, _ := strconv.Atoi(q.Get("failed"))
	text := fmt.Sprintf("Replayed %d, skipped %d, failed %d.", n, skipped, failed)
	if failed > 0 {
		return &flash{"error", text + " The log names the failures."}
	}
	return &flash{"ok", text}
}
