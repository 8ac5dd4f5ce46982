package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestTarget(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"", "http://127.0.0.1:8080/readyz"},
		{":9000", "http://127.0.0.1:9000/readyz"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080/readyz"},
		{"[::]:8080", "http://127.0.0.1:8080/readyz"},
		{"127.0.0.2:81", "http://127.0.0.2:81/readyz"},
	} {
		got, err := target(c.addr, "/readyz")
		if err != nil || got != c.want {
			t.Errorf("target(%q) = %q, %v; want %q", c.addr, got, err, c.want)
		}
	}
	if _, err := target("8080", "/readyz"); err == nil {
		t.Error("HTTP_ADDR without a colon accepted")
	}
}

func TestRun(t *testing.T) {
	var notReady atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && notReady.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	env := func(k string) string {
		if k == "HTTP_ADDR" {
			return ":" + port
		}
		return ""
	}
	var stderr bytes.Buffer
	if code := run(nil, env, &stderr); code != 0 {
		t.Fatalf("ready: exit %d, %s", code, stderr.String())
	}
	notReady.Store(true)
	if code := run(nil, env, &stderr); code != 1 {
		t.Fatalf("not ready: exit %d", code)
	}
	if code := run([]string{"/healthz"}, env, &stderr); code != 0 {
		t.Fatalf("healthz: exit %d", code)
	}
	if code := run([]string{"healthz"}, env, &stderr); code != 2 {
		t.Fatalf("bad usage: exit %d", code)
	}
}
