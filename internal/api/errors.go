package api

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/multichat/mediapipe/internal/catalog"
)

// The error codes of the API: stable strings a client may switch on. The
// OpenAPI document (components.schemas.Error) and docs/API.md list them.
const (
	codeUnauthorized        = "unauthorized"          // 401: no token, or not a valid one
	codeRateLimited         = "rate_limited"          // 429: too many invalid tokens from the address
	codeInvalidParameter    = "invalid_parameter"     // 400: param names the query parameter
	codeNotFound            = "not_found"             // 404: no such media (or another cliente's), route or thumbnail
	codeNoFile              = "no_file"               // 404: the media has no stored file (not downloaded, or missing)
	codeGone                = "gone"                  // 410: cleanup deleted the stored file
	codeMethodNotAllowed    = "method_not_allowed"    // 405: the API is read-only
	codePreconditionFailed  = "precondition_failed"   // 412: If-Match or If-Unmodified-Since did not hold
	codeRangeNotSatisfiable = "range_not_satisfiable" // 416: Range outside the file
	codeInternal            = "internal"              // 500: logged; retry later
)

// errorJSON is the body of every error answer.
type errorJSON struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"` // the query parameter at fault, for invalid_parameter
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorJSON{errorDetail{Code: code, Message: msg}})
}

// paramError is a query parameter the API refuses.
type paramError struct {
	param, msg string
}

func (e *paramError) Error() string { return e.msg }

// writeParamError answers 400 invalid_parameter for err, a *paramError or
// a *catalog.FilterError; it reports whether err was one of them.
func writeParamError(w http.ResponseWriter, err error) bool {
	var (
		pe *paramError
		fe *catalog.FilterError
	)
	switch {
	case errors.As(err, &pe):
		writeJSON(w, http.StatusBadRequest, errorJSON{errorDetail{Code: codeInvalidParameter, Message: pe.msg, Param: &pe.param}})
	case errors.As(err, &fe) && len(fe.Params) > 0:
		writeJSON(w, http.StatusBadRequest, errorJSON{errorDetail{
			Code: codeInvalidParameter, Message: strings.Join(fe.Problems, "; "), Param: &fe.Params[0]}})
	default:
		return false
	}
	return true
}

// fileErrors turns the plain-text error answers of http.ServeContent (416
// for a Range outside the file, 412 for a failed If-Match) into the API's
// JSON errors; everything else passes through.
type fileErrors struct {
	http.ResponseWriter
	swallow bool // the status was replaced: drop ServeContent's text body
}

func (f *fileErrors) WriteHeader(status int) {
	code := ""
	switch status {
	case http.StatusRequestedRangeNotSatisfiable:
		code = codeRangeNotSatisfiable
	case http.StatusPreconditionFailed:
		code = codePreconditionFailed
	}
	if code == "" {
		f.ResponseWriter.WriteHeader(status)
		return
	}
	msg := "the requested range is outside the file"
	if code == codePreconditionFailed {
		msg = "a precondition (If-Match, If-Unmodified-Since) does not hold"
	}
	h := f.Header()
	h.Del("Content-Length")
	h.Del("Content-Disposition")
	h.Del("ETag")
	writeError(f.ResponseWriter, status, code, msg)
	f.swallow = true
}

func (f *fileErrors) Write(b []byte) (int, error) {
	if f.swallow {
		return len(b), nil
	}
	return f.ResponseWriter.Write(b)
}

// ReadFrom keeps the ResponseWriter's own ReadFrom (sendfile for a local
// file) in the path of ServeContent's copy.
func (f *fileErrors) ReadFrom(r io.Reader) (int64, error) {
	if f.swallow {
		return io.Copy(io.Discard, r)
	}
	return io.Copy(f.ResponseWriter, r)
}

// Unwrap lets http.ResponseController reach the connection.
func (f *fileErrors) Unwrap() http.ResponseWriter { return f.ResponseWriter }
