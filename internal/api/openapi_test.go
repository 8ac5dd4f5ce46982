package api_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/api"
)

// The contract: every answer a test in this package gets is validated
// against openapi.json (the file the API embeds and serves) by
// libopenapi-validator, a maintained OpenAPI 3.1 validator, and TestMain
// checks that the package's tests together met every response the document
// declares, per route and status.

var contract struct {
	once  sync.Once
	raw   []byte
	model *v3.Document
	err   error

	mu        sync.Mutex // the validator is not documented as safe for concurrent use
	validator validator.Validator

	covered sync.Map // "GET /v1/media/{id} 404" → true
	// excused holds the responses only a skipped test meets ("GET … 307" →
	// the test's name): without an S3 server outside CI, the presigned
	// redirect is not checked, and the coverage check says so instead of
	// failing. Under CI=true such a test fails rather than skips.
	excused sync.Map
}

// meets records that t is the test that meets response key; when t is
// skipped, the coverage check excuses key.
func meets(t *testing.T, key string) {
	t.Cleanup(func() {
		if t.Skipped() {
			contract.excused.Store(key, t.Name())
		}
	})
}

// openAPI returns the document's validator and model, parsed once.
func openAPI(t testing.TB) (validator.Validator, *v3.Document) {
	t.Helper()
	contract.once.Do(func() {
		contract.raw, contract.err = os.ReadFile("openapi.json")
		if contract.err != nil {
			return
		}
		doc, err := libopenapi.NewDocument(contract.raw)
		if err != nil {
			contract.err = err
			return
		}
		model, err := doc.BuildV3Model()
		if err != nil {
			contract.err = err
			return
		}
		contract.model = &model.Model
		v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
		if len(errs) > 0 {
			contract.err = errs[0]
			return
		}
		contract.validator = v
	})
	require.NoError(t, contract.err)
	return contract.validator, contract.model
}

// routeOf returns the document's path template of an API path, or "" for
// paths no route serves.
func routeOf(path string) string {
	for _, r := range []struct {
		re    *regexp.Regexp
		route string
	}{
		{regexp.MustCompile(`^/v1/media$`), "/v1/media"},
		{regexp.MustCompile(`^/v1/media/[^/]+$`), "/v1/media/{id}"},
		{regexp.MustCompile(`^/v1/media/[^/]+/content$`), "/v1/media/{id}/content"},
		{regexp.MustCompile(`^/v1/media/[^/]+/thumbnail$`), "/v1/media/{id}/thumbnail"},
		{regexp.MustCompile(`^/v1/stats$`), "/v1/stats"},
		{regexp.MustCompile(`^/v1/openapi\.json$`), "/v1/openapi.json"},
	} {
		if r.re.MatchString(path) {
			return r.route
		}
	}
	return ""
}

// checkContract validates one answer (its body already read) against the
// document. GET answers of documented routes are validated as they are;
// the request too when it succeeded (an error answer is often for a request
// the document forbids). Other methods and routes must answer with the
// document's Error schema.
func checkContract(t testing.TB, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	v, model := openAPI(t)
	route := routeOf(req.URL.Path)
	if req.Method != http.MethodGet || route == "" {
		if req.Method == http.MethodHead || resp.StatusCode < 400 {
			return
		}
		requireErrorSchema(t, model, body)
		contract.covered.Store(fmt.Sprintf("%s %s %d", req.Method, route, resp.StatusCode), true)
		return
	}
	r := *resp
	r.Body = io.NopCloser(bytes.NewReader(body))
	contract.mu.Lock()
	var (
		ok   bool
		errs []*verrors.ValidationError
	)
	if resp.StatusCode < 400 {
		ok, errs = v.ValidateHttpRequestResponse(req, &r)
	} else {
		ok, errs = v.ValidateHttpResponse(req, &r)
	}
	contract.mu.Unlock()
	if !ok {
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Error())
			for _, se := range e.SchemaValidationErrors {
				msgs = append(msgs, "  "+se.Reason+" at "+se.FieldPath)
			}
		}
		require.Fail(t, "answer breaks the OpenAPI document",
			"%s %s → %d %s\n%s\nbody: %.500s", req.Method, req.URL, resp.StatusCode, resp.Header.Get("Content-Type"),
			strings.Join(msgs, "\n"), body)
	}
	contract.covered.Store(fmt.Sprintf("GET %s %d", route, resp.StatusCode), true)
}

// requireErrorSchema checks body against components.schemas.Error. Under
// contract.mu like the validator: rendering a schema writes into the shared
// model (libopenapi), so parallel tests must not do it at once.
func requireErrorSchema(t testing.TB, model *v3.Document, body []byte) {
	t.Helper()
	contract.mu.Lock()
	schema := model.Components.Schemas.GetOrZero("Error").Schema()
	ok, errs := schema_validation.NewSchemaValidator().ValidateSchemaString(schema, string(body))
	contract.mu.Unlock()
	require.True(t, ok, "%v: %s", errs, body)
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	// The coverage check needs the whole package's tests.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
		missing, excused := uncovered()
		if len(excused) > 0 {
			fmt.Fprintf(os.Stderr, "not checked, their tests skipped:\n  %s\n", strings.Join(excused, "\n  "))
		}
		if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "the tests met no answer for these responses of openapi.json:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}

// uncovered lists the document's responses ("GET route status") no test
// validated, and apart those whose only test was skipped.
func uncovered() (missing, excused []string) {
	if contract.model == nil {
		return []string{"every response: no test loaded openapi.json"}, nil
	}
	for path, item := range contract.model.Paths.PathItems.FromOldest() {
		for code := range item.Get.Responses.Codes.KeysFromOldest() {
			key := "GET " + path + " " + code
			if _, ok := contract.covered.Load(key); ok {
				continue
			}
			if test, ok := contract.excused.Load(key); ok {
				excused = append(excused, key+" ("+test.(string)+")")
				continue
			}
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	sort.Strings(excused)
	return missing, excused
}

// TestOpenAPIDocument: the document is valid OpenAPI 3.1, served without a
// token as the file, and names exactly the API's routes, each of them
// in the README and docs.
func TestOpenAPIDocument(t *testing.T) {
	b := setup(t)
	v, model := openAPI(t)
	contract.mu.Lock()
	ok, errs := v.ValidateDocument()
	contract.mu.Unlock()
	require.True(t, ok, "%v", errs)
	require.Equal(t, "3.1.0", model.Version)

	resp, body := b.get(t, "", "/v1/openapi.json")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, contract.raw, body, "the file is what the API serves")
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	resp, _ = b.get(t, "", "/v1/openapi.json", "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, resp.StatusCode)
	resp, body = b.do(t, http.MethodPost, "", "/v1/openapi.json")
	require.Equal(t, "method_not_allowed", requireErrorCode(t, resp, body, http.StatusMethodNotAllowed))

	var paths []string
	for p := range model.Paths.PathItems.KeysFromOldest() {
		paths = append(paths, p)
	}
	routes := []string{"/v1/media", "/v1/media/{id}", "/v1/media/{id}/content", "/v1/media/{id}/thumbnail", "/v1/stats", "/v1/openapi.json"}
	require.ElementsMatch(t, routes, paths)

	// Every /v1 route the README and the docs name is in the document.
	docs, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	mentioned := 0
	for _, f := range append(docs, "../../README.md") {
		text, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile("`(?:GET )?(/v1/[a-z{}/.]*)").FindAllSubmatch(text, -1) {
			route := strings.TrimSuffix(string(m[1]), "/")
			if route == "/v1" {
				continue
			}
			mentioned++
			require.Contains(t, routes, route, "%s names %s", f, route)
		}
	}
	require.Positive(t, mentioned)

	// Every error code the document lists is one the API uses, and back.
	codes := model.Components.Schemas.GetOrZero("Error").Schema().Properties.GetOrZero("error").Schema().Properties.GetOrZero("code").Schema().Enum
	var listed []string
	for _, c := range codes {
		listed = append(listed, c.Value)
	}
	src, err := os.ReadFile("errors.go")
	require.NoError(t, err)
	var used []string
	for _, m := range regexp.MustCompile(`code\w+\s+= "(\w+)"`).FindAllSubmatch(src, -1) {
		used = append(used, string(m[1]))
	}
	slices.Sort(listed)
	slices.Sort(used)
	require.Equal(t, used, listed)
}

// TestErrorsMatchContract drives each error answer of each route once: with
// the catalogue down (500), by a wrong method (405), and by the failed
// preconditions of the file routes (412, 416).
func TestErrorsMatchContract(t *testing.T) {
	f := newFixture(t)
	for _, route := range []string{"/v1/media", fmt.Sprintf("/v1/media/%d", f.image), "/v1/stats"} {
		resp, body := f.do(t, http.MethodDelete, f.a.token, route)
		require.Equal(t, "method_not_allowed", requireErrorCode(t, resp, body, http.StatusMethodNotAllowed))
		require.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
	}
	for _, route := range []string{"/content", "/thumbnail"} {
		path := fmt.Sprintf("/v1/media/%d%s", f.image, route)
		resp, body := f.get(t, f.a.token, path, "If-Match", `"not-the-etag"`)
		require.Equal(t, "precondition_failed", requireErrorCode(t, resp, body, http.StatusPreconditionFailed))
		resp, body = f.get(t, f.a.token, path, "Range", "bytes=100000-")
		require.Equal(t, "range_not_satisfiable", requireErrorCode(t, resp, body, http.StatusRequestedRangeNotSatisfiable))
		require.True(t, strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes */"))
	}
	resp, body := f.get(t, f.a.token, "/v1/nothing")
	require.Equal(t, "not_found", requireErrorCode(t, resp, body, http.StatusNotFound))
	resp, body = f.get(t, f.a.token, fmt.Sprintf("/v1/media/%d/thumbnail", f.image), "Range", "bytes=0-3")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Len(t, body, 4)

	// Invalid tokens past the address's budget: 429 on every route.
	limited := httptest.NewServer(api.New(api.Options{Store: f.store, Blobs: f.blobs, AuthFailures: 1}))
	t.Cleanup(limited.Close)
	srv := f.srv
	f.srv = limited
	for _, route := range []string{"/v1/media", fmt.Sprintf("/v1/media/%d", f.image), fmt.Sprintf("/v1/media/%d/content", f.image),
		fmt.Sprintf("/v1/media/%d/thumbnail", f.image), "/v1/stats"} {
		resp, body := f.get(t, "mpk_wrong", route)
		if resp.StatusCode == http.StatusUnauthorized {
			resp, body = f.get(t, "mpk_wrong", route)
		}
		require.Equal(t, "rate_limited", requireErrorCode(t, resp, body, http.StatusTooManyRequests), route)
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
	}
	f.srv = srv

	// The token is remembered; then the database goes away.
	paths := []string{"/v1/media", fmt.Sprintf("/v1/media/%d", f.image), fmt.Sprintf("/v1/media/%d/content", f.image),
		fmt.Sprintf("/v1/media/%d/thumbnail", f.image), "/v1/stats"}
	for _, p := range paths {
		resp, _ := f.get(t, f.a.token, p)
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
	f.store.Close()
	for _, p := range paths {
		resp, body := f.get(t, f.a.token, p)
		require.Equal(t, "internal", requireErrorCode(t, resp, body, http.StatusInternalServerError), p)
		require.NotContains(t, string(body), "closed", "no detail leaves")
	}
}
