// Command probe is the health check of the mediapipe container image. The
// image is distroless (no shell, no curl), so `docker compose` and the
// image's HEALTHCHECK run this instead: it asks the mediapipe process in the
// same container for a path (default /readyz) on the port of HTTP_ADDR and
// exits 0 when the answer is 200, 1 otherwise. Kubernetes uses httpGet
// probes and does not need it.
//
//	probe            # GET http://127.0.0.1:<HTTP_ADDR port>/readyz
//	probe /healthz   # liveness only
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Getenv, os.Stderr)) }

func run(args []string, getenv func(string) string, stderr io.Writer) int {
	path := "/readyz"
	if len(args) > 1 || (len(args) == 1 && !strings.HasPrefix(args[0], "/")) {
		fmt.Fprintln(stderr, "usage: probe [/path]   (default /readyz, on the port of HTTP_ADDR)")
		return 2
	}
	if len(args) == 1 {
		path = args[0]
	}
	u, err := target(getenv("HTTP_ADDR"), path)
	if err != nil {
		fmt.Fprintln(stderr, "probe:", err)
		return 1
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		fmt.Fprintln(stderr, "probe:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "probe: %s answered %d: %s\n", u, resp.StatusCode, strings.TrimSpace(string(body)))
		return 1
	}
	return 0
}

// target returns the URL of path on the local mediapipe listening on
// httpAddr (mediapipe's HTTP_ADDR; default ":8080"). A wildcard or empty
// host means loopback.
func target(httpAddr, path string) (string, error) {
	if httpAddr == "" {
		httpAddr = ":8080"
	}
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil || port == "" {
		return "", fmt.Errorf("HTTP_ADDR %q: want host:port or :port", httpAddr)
	}
	switch host {
	case "", "0.0.0.0", "::", "[::]":
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
