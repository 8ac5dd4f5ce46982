package admin

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/authlimit"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// maxFormBytes bounds every posted form: they hold a token and a few ids.
const maxFormBytes = 8 << 10

// chartDays is how many days the per-day chart shows, today included.
const chartDays = 30

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok := h.sessionOf(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "login", page{Title: "Log in", Data: loginData{Next: next}})
}

type loginData struct{ Next string }

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	client := h.clients.String(r)
	// The token first: the right one is never refused. Only wrong ones
	// count against the client address's budget.
	if !h.sessions.checkToken(r.PostFormValue("token")) {
		if v := h.failures.Fail(h.clients.Key(r)); v.Limited {
			if v.Started {
				budget, window := h.failures.BudgetPerWindow()
				h.log.Warn("too many wrong admin tokens: answering 429 to further wrong ones for a while",
					zap.String("client_addr", client), zap.Int("failures", budget), zap.Duration("window", window))
			}
			h.refusals.Warn("rate_limited", "admin login refused", zap.String("client_addr", client))
			w.Header().Set("Retry-After", authlimit.RetryAfter(v.RetryAfter))
			h.render(w, r, http.StatusTooManyRequests, "login", page{
				Title: "Log in", Error: "Too many wrong tokens: try again later.", Data: loginData{Next: next},
			})
			return
		}
		h.refusals.Warn("wrong_token", "admin login refused", zap.String("client_addr", client))
		h.render(w, r, http.StatusUnauthorized, "login", page{
			Title: "Log in", Error: "Wrong admin token.", Data: loginData{Next: next},
		})
		return
	}
	value, sess := h.sessions.issue()
	h.setSessionCookie(w, r, value, sess.expires)
	h.log.Info("admin login", zap.String("client_addr", client))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext returns where to go after logging in: a path of the admin page,
// never another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/admin/") || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "/admin/login") {
		return "/admin/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/admin/"
	}
	return next
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, sess session) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !h.checkCSRF(w, r, sess) {
		return
	}
	// The session ends on the server, not only in this browser: a copy of
	// the cookie no longer works either.
	if err := h.revoked.revoke(r.Context(), sess.id, sess.expires); err != nil {
		h.log.Error("admin logout: the session is ended on this process only", zap.Error(err))
	}
	h.setSessionCookie(w, r, "", time.Unix(0, 0))
	h.log.Info("admin logout", zap.String("client_addr", h.clients.String(r)))
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// flashOf turns the message code a redirect carries into its text; the text
// itself never travels in a URL.
func flashOf(q url.Values) *flash {
	n, _ := strconv.Atoi(q.Get("n"))
	switch q.Get("msg") {
	case "reprocessed":
		return &flash{"ok", "Reset to pending and queued a new download job."}
	case "queued":
		return &flash{"ok", fmt.Sprintf("Reset %d rows to pending and queued their download jobs.", n)}
	case "nothing":
		return &flash{"ok", "Nothing to reprocess."}
	case "not_reprocessable":
		return &flash{"error", "This item cannot be reprocessed: it is a success, or it lacks the fields a download needs."}
	case "publish_failed":
		return &flash{"error", fmt.Sprintf("Queued %d download jobs, then publishing failed; the other rows are pending: "+
			"run `mediapipe reprocess --status pending` to queue them.", n)}
	}
	return nil
}

// overviewData is the overview page.
type overviewData struct {
	Clientes      []catalog.Cliente
	ClienteID     int64
	Stats         catalog.Stats
	PerDay        columnChart
	ByType        barChart
	ByStatus      barChart
	Reasons       []count
	Instances     []count
	Providers     []count // rows by the instance's provider
	Integrity     []count // stored files by how they were verified
	Reprocessable int64   // failed and expired rows
	CanReprocess  bool
	Days          int
}

type count struct {
	Key string
	N   int64
}

func sortedCounts(m map[string]int64) []count {
	out := make([]count, 0, len(m))
	for k, n := range m {
		out = append(out, count{k, n})
	}
	slices.SortFunc(out, func(a, b count) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Key, b.Key)) })
	return out
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, sess session) {
	q := r.URL.Query()
	p := page{Title: "Overview", Nav: "overview", CSRF: sess.csrf, Flash: flashOf(q)}
	d := overviewData{CanReprocess: h.js != nil, Days: chartDays}
	code := http.StatusOK
	if s := q.Get("cliente"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			p.Error, code = fmt.Sprintf("cliente %q: want a cliente id", s), http.StatusBadRequest
		} else {
			d.ClienteID = id
		}
	}
	ctx := r.Context()
	var err error
	if d.Clientes, err = h.lists.Clientes(ctx); err != nil {
		h.internalError(w, r, err)
		return
	}
	if d.Stats, err = h.lists.Stats(ctx, d.ClienteID); err != nil {
		h.internalError(w, r, err)
		return
	}
	days, err := h.lists.MediaPerDay(ctx, d.ClienteID, h.now().UTC().AddDate(0, 0, -(chartDays-1)))
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	listURL := func(key, value string) string {
		v := url.Values{key: {value}}
		if d.ClienteID != 0 {
			v.Set("cliente", strconv.FormatInt(d.ClienteID, 10))
		}
		return "/admin/media?" + v.Encode()
	}
	d.PerDay = newColumnChart(days)
	var types, statuses []count
	for _, t := range wamedia.MediaTypes {
		types = append(types, count{string(t), d.Stats.ByType[string(t)]})
	}
	for _, s := range statusOrder {
		statuses = append(statuses, count{s, d.Stats.ByStatus[s]})
	}
	d.ByType = newBarChart(types, func(k string) string { return "type-" + k }, func(k string) string { return listURL("type", k) })
	d.ByStatus = newBarChart(statuses, func(k string) string { return "st-" + k }, func(k string) string { return listURL("status", k) })
	d.Reasons = sortedCounts(d.Stats.ByReason)
	d.Instances = sortedCounts(d.Stats.ByInstance)
	d.Providers = sortedCounts(d.Stats.ByProvider)
	d.Integrity = sortedCounts(d.Stats.ByIntegrity)
	d.Reprocessable = d.Stats.ByStatus[catalog.StatusFailed] + d.Stats.ByStatus[catalog.StatusExpired]
	p.Data = d
	h.render(w, r, code, "overview", p)
}

// statusOrder is the order statuses are shown in.
var statusOrder = []string{
	catalog.StatusPending, catalog.StatusDownloading, catalog.StatusSuccess, catalog.StatusFailed, catalog.StatusExpired,
}

// listForm is the list's filter form, as submitted.
type listForm struct {
	Cliente, Instance, Chat, Type, Status, Reason, Provider, Since, Until string
}

// listData is the media list page.
type listData struct {
	Clientes  []catalog.Cliente
	Form      listForm
	Types     []wamedia.MediaType
	Statuses  []string
	Providers []webhook.Provider
	Reasons   []count // the failure reasons recorded, for the reason menu
	Items     []mediaRow
	Next      string // URL of the next (older) page, if any
	First     string // URL of the first page, when this is not it
	Filtered  bool
}

// mediaRow is a media row with its cliente's name.
type mediaRow struct {
	catalog.Media
	Cliente string
}

// parseListFilter reads the list's query into a filter, reporting every bad
// parameter at once. Values the catalogue checks are checked there.
func parseListFilter(q url.Values) (listForm, catalog.AdminMediaFilter, error) {
	form := listForm{
		Cliente: q.Get("cliente"), Instance: strings.TrimSpace(q.Get("instance")), Chat: strings.TrimSpace(q.Get("chat")),
		Type: q.Get("type"), Status: q.Get("status"), Reason: strings.TrimSpace(q.Get("reason")),
		Provider: q.Get("provider"), Since: q.Get("since"), Until: q.Get("until"),
	}
	f := catalog.AdminMediaFilter{
		InstanceID: form.Instance, Chat: form.Chat, Type: wamedia.MediaType(form.Type),
		Status: form.Status, Reason: form.Reason,
	}
	var problems []string
	if form.Provider != "" {
		p, err := webhook.ParseProvider(form.Provider)
		if err != nil {
			problems = append(problems, err.Error())
		}
		f.Provider = string(p)
	}
	if form.Cliente != "" {
		id, err := strconv.ParseInt(form.Cliente, 10, 64)
		if err != nil || id <= 0 {
			problems = append(problems, fmt.Sprintf("cliente %q: want a cliente id", form.Cliente))
		}
		f.ClienteID = id
	}
	if form.Since != "" {
		t, err := parseDay(form.Since, false)
		if err != nil {
			problems = append(problems, "since: "+err.Error())
		}
		f.Since = t
	}
	if form.Until != "" {
		t, err := parseDay(form.Until, true)
		if err != nil {
			problems = append(problems, "until: "+err.Error())
		}
		f.Until = t
	}
	if s := q.Get("before"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			problems = append(problems, fmt.Sprintf("before %q: want a media id", s))
		}
		f.Before = id
	}
	if len(problems) > 0 {
		return form, f, errors.New(strings.Join(problems, "; "))
	}
	return form, f, nil
}

// parseDay reads a date (2025-06-01, a UTC day) or an RFC 3339 time. An end
// date counts its whole day.
func parseDay(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date such as 2025-06-01", s)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, sess session) {
	q := r.URL.Query()
	p := page{Title: "Media", Nav: "media", CSRF: sess.csrf, Flash: flashOf(q)}
	ctx := r.Context()
	clientes, err := h.lists.Clientes(ctx)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	form, f, err := parseListFilter(q)
	d := listData{Clientes: clientes, Form: form, Types: wamedia.MediaTypes, Statuses: statusOrder, Providers: webhook.Providers, Filtered: form != listForm{}}
	p.Data = &d
	var menuErr error
	if d.Reasons, menuErr = h.reasonMenu(r, f.ClienteID, form.Reason); menuErr != nil {
		h.internalError(w, r, menuErr)
		return
	}
	if err != nil {
		p.Error = "Bad filter: " + err.Error()
		h.render(w, r, http.StatusBadRequest, "list", p)
		return
	}
	pg, err := h.lists.AdminListMedia(ctx, f)
	if errors.Is(err, catalog.ErrInvalidFilter) {
		p.Error = "Bad filter: " + strings.TrimPrefix(err.Error(), catalog.ErrInvalidFilter.Error()+": ")
		h.render(w, r, http.StatusBadRequest, "list", p)
		return
	}
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	names := clienteNames(clientes)
	for _, m := range pg.Items {
		d.Items = append(d.Items, mediaRow{Media: m, Cliente: names[m.ClienteID]})
	}
	keep := url.Values{}
	for k, v := range q {
		if k != "before" && k != "msg" && k != "n" && len(v) > 0 && v[0] != "" {
			keep.Set(k, v[0])
		}
	}
	if pg.Next != 0 {
		keep.Set("before", strconv.FormatInt(pg.Next, 10))
		d.Next = "/admin/media?" + keep.Encode()
		keep.Del("before")
	}
	if f.Before != 0 {
		d.First = "/admin/media?" + keep.Encode()
	}
	h.render(w, r, http.StatusOK, "list", p)
}

// reasonMenu returns the failure reasons recorded for a cliente (every
// cliente when 0), most frequent first, with the one chosen (current) kept
// even when no row has it any more.
func (h *Handler) reasonMenu(r *http.Request, clienteID int64, current string) ([]count, error) {
	recorded, err := h.lists.FailureReasons(r.Context(), clienteID)
	if err != nil {
		return nil, err
	}
	byReason := map[string]int64{}
	for _, rc := range recorded {
		byReason[rc.Reason] += rc.N
	}
	if _, ok := byReason[current]; current != "" && !ok {
		byReason[current] = 0
	}
	return sortedCounts(byReason), nil
}

func clienteNames(cs []catalog.Cliente) map[int64]string {
	m := make(map[int64]string, len(cs))
	for _, c := range cs {
		m[c.ID] = c.Name
	}
	return m
}

// pathID reads the {id} of the path; ok is false (and 404 sent) when it is
// not a media id.
func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, "no such media", http.StatusNotFound)
		return 0, false
	}
	return id, true
}

// detailData is one media item's page.
type detailData struct {
	M             catalog.Media
	Cliente       string
	Reprocessable bool
	CanReprocess  bool
	CanOpen       bool   // a stored file to open or download
	Inline        bool   // the browser shows it in place
	FailsAgain    string // why a reprocess would fail the same way, for such a reason
}

// media reads the media row of the path's {id}; ok is false (and 404 or 500
// sent) when there is none.
func (h *Handler) media(w http.ResponseWriter, r *http.Request) (catalog.Media, bool) {
	id, ok := pathID(w, r)
	if !ok {
		return catalog.Media{}, false
	}
	m, err := h.lists.AdminMediaByID(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		http.Error(w, "no such media", http.StatusNotFound)
		return m, false
	}
	if err != nil {
		h.internalError(w, r, err)
		return m, false
	}
	return m, true
}

func (h *Handler) detail(w http.ResponseWriter, r *http.Request, sess session) {
	m, ok := h.media(w, r)
	if !ok {
		return
	}
	clientes, err := h.lists.Clientes(r.Context())
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "detail", page{
		Title: fmt.Sprintf("Media #%d", m.ID), Nav: "media", CSRF: sess.csrf, Flash: flashOf(r.URL.Query()),
		Data: detailData{
			M: m, Cliente: clienteNames(clientes)[m.ClienteID], CanReprocess: h.js != nil,
			CanOpen: h.blobs != nil && canOpen(m), Inline: inlineType(m.Mimetype), FailsAgain: replayFails[m.FailureReason],
			Reprocessable: m.Status != catalog.StatusSuccess && m.FailureReason != catalog.ReasonMissingFields,
		},
	})
}

func (h *Handler) thumbnail(w http.ResponseWriter, r *http.Request, _ session) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	thumb, err := h.lists.AdminMediaThumbnail(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		http.Error(w, "no thumbnail", http.StatusNotFound)
		return
	}
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	// The bytes come from a webhook: served as what they claim to be, never
	// sniffed, and sandboxed if opened on their own.
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Header().Set("Content-Length", strconv.Itoa(len(thumb)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(thumb)
}
