package wasim

import (
	"context"
	"crypto/hmac"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// serveCDN serves a blob at its directPath, like mmg.whatsapp.net: the path
// must be known and the query must carry the item's oh and oe.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	s.st.cdnRequests.Add(1)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	it := s.lookupPath(r.URL.Path)
	if it == nil {
		s.st.cdnNotFound.Add(1)
		httpError(w, http.StatusNotFound, "Not Found")
		return
	}
	it.requests.Add(1)
	q := r.URL.Query()
	if !hmac.Equal([]byte(q.Get("oh")), []byte(it.oh)) || q.Get("oe") != it.oe {
		s.st.cdnForbidden.Add(1)
		httpError(w, http.StatusForbidden, "URL signature mismatch")
		return
	}
	if time.Now().After(it.Expiry) {
		s.st.cdnForbidden.Add(1)
		httpError(w, http.StatusForbidden, "URL signature expired")
		return
	}

	if body, answered := s.rollFaults(w, r, it); !answered {
		s.sendFile(w, r, it, false, body)
	}
}

// rollFaults draws the item's and the server's faults for one request,
// waits out their delay and answers a fault that replaces the answer. It
// returns the faults that alter the body, and whether it answered.
func (s *Server) rollFaults(w http.ResponseWriter, r *http.Request, it *Item) (body map[FaultKind]*Fault, answered bool) {
	var p plan
	it.faults.roll(&p, s.dice)
	s.faults.roll(&p, s.dice)
	for _, k := range p.fired {
		s.st.faults[k].Add(1)
	}
	if !s.wait(r.Context(), p.delay) {
		panic(http.ErrAbortHandler) // the client left or the server is closing: no answer
	}
	if p.answer != nil {
		s.answerFault(w, r, p.answer)
		return nil, true
	}
	return p.body, false
}

func (s *Server) answerFault(w http.ResponseWriter, r *http.Request, f *Fault) {
	switch f.Kind {
	case FaultError:
		st := cmpInt(f.Status, http.StatusInternalServerError)
		httpError(w, st, http.StatusText(st))
	case FaultRateLimit:
		ra := f.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ra.Seconds()))))
		httpError(w, http.StatusTooManyRequests, "Too Many Requests")
	case FaultExpired:
		st := cmpInt(f.Status, http.StatusNotFound)
		httpError(w, st, http.StatusText(st))
	case FaultRedirect:
		loc := f.Location
		if loc == "" {
			loc = "http://127.0.0.2:" + strconv.Itoa(s.port) + r.URL.RequestURI()
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
	}
}

// sendFile streams the item's blob, or its plain file when plain is set (as
// the providers that decrypt serve it), applying the body faults.
func (s *Server) sendFile(w http.ResponseWriter, r *http.Request, it *Item, plain bool, body map[FaultKind]*Fault) {
	open, size, ctype := it.OpenBlob, it.BlobLength, "application/octet-stream"
	if plain {
		open, size, ctype = it.OpenPlain, it.FileLength, it.Sample.Mimetype
	}
	f, err := open()
	if err != nil {
		s.log.Error("opening media file", zap.String("item", it.ID), zap.Bool("plain", plain), zap.Error(err))
		httpError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	defer f.Close()

	send := size
	if t := body[FaultTruncate]; t != nil {
		send = t.After
		if send <= 0 || send >= size {
			send = max(size-7, 0)
		}
	}
	stop := send // where the body ends early (reset or stall)
	resetAt, stallAt := int64(-1), int64(-1)
	if f := body[FaultReset]; f != nil {
		resetAt = min(cmpInt64(f.After, size/2), send)
		stop = min(stop, resetAt)
	}
	if f := body[FaultStall]; f != nil {
		stallAt = min(f.After, send)
		stop = min(stop, stallAt)
	}
	corrupt := int64(-1)
	if c := body[FaultCorrupt]; c != nil && send > 0 {
		corrupt = cmpInt64(c.After, size/2)
		if corrupt >= send {
			corrupt = send / 2
		}
	}
	bps := 0
	if sl := body[FaultSlow]; sl != nil {
		bps = cmpInt(sl.BytesPerSecond, 1)
	}

	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.FormatInt(send, 10))
	h.Set("Cache-Control", "max-age=1209600")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	n, err := s.copyBody(r.Context(), w, f, stop, corrupt, bps)
	if plain {
		s.st.providerBytes.Add(n)
	} else {
		s.st.cdnBytes.Add(n)
	}
	if err != nil {
		return // the client went away, or the server is closing
	}
	rc := http.NewResponseController(w)
	switch {
	case resetAt >= 0 && (stallAt < 0 || resetAt <= stallAt):
		s.resetConn(rc)
	case stallAt >= 0:
		_ = rc.Flush()
		s.wait(r.Context(), math.MaxInt64)
		panic(http.ErrAbortHandler) // never complete the body
	case len(body) == 0 && plain:
		s.st.providerServed.Add(1)
	case len(body) == 0:
		s.st.cdnServed.Add(1)
	}
}

// copyBody writes n bytes of f to w, flipping the byte at offset corrupt
// (when >= 0), and pacing at bps bytes a second (when > 0).
func (s *Server) copyBody(ctx context.Context, w http.ResponseWriter, f io.Reader, n, corrupt int64, bps int) (int64, error) {
	if corrupt < 0 && bps <= 0 {
		// Unaltered bytes: let net/http use sendfile, as a CDN's server would,
		// so the simulator takes little of the CPU the downloader is measured on.
		return io.Copy(w, io.LimitReader(f, n))
	}
	rc := http.NewResponseController(w)
	chunk := int64(64 << 10)
	var pause time.Duration
	if bps > 0 {
		chunk = int64(max(bps/10, 1))
		pause = time.Duration(chunk) * time.Second / time.Duration(bps)
	}
	buf := make([]byte, min(chunk, max(n, 1)))
	var off int64
	for off < n {
		if pause > 0 && off > 0 && !s.wait(ctx, pause) {
			return off, ctx.Err()
		}
		m, err := io.ReadFull(f, buf[:min(int64(len(buf)), n-off)])
		if err != nil {
			return off, err
		}
		if corrupt >= off && corrupt < off+int64(m) {
			buf[corrupt-off] ^= 0x5a
		}
		if _, err := w.Write(buf[:m]); err != nil {
			return off, err
		}
		off += int64(m)
		if pause > 0 {
			if err := rc.Flush(); err != nil {
				return off, err
			}
		}
	}
	return off, nil
}

// resetConn flushes what was written and resets the TCP connection.
func (s *Server) resetConn(rc *http.ResponseController) {
	_ = rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // closes the connection all the same
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST instead of FIN
	}
	_ = conn.Close()
}

func cmpInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func cmpInt64(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}
