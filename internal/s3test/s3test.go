// Package s3test gives tests a real S3 server: a versitygw gateway serving a
// temporary folder on a free loopback port, with a bucket created. No fake
// stands in for S3. The binary is looked up on PATH, in $GOBIN and in
// $(go env GOPATH)/bin; .ci/run installs it. Without it the test is skipped,
// or fails when CI=true.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/multichat/mediapipe/internal/proctest"
)

// Version is the versitygw release .ci/run installs.
const Version = "v1.8.0"

// Credentials and region of every test server.
const (
	AccessKey = "mediapipe-test"
	SecretKey = "mediapipe-test-secret"
	Region    = "us-east-1"
)

// Server is a running versitygw.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Bucket   string
	Dir      string // the folder it serves; the bucket is a subfolder

	bin  string
	addr string
	out  *proctest.LockedBuffer

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Binary finds versitygw (on PATH, in GOBIN, in the module's .ci/bin or in
// GOPATH/bin), or returns "".
func Binary() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	// Where .ci/run builds it: .ci/bin of this module.
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		dirs = append(dirs, filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), ".ci", "bin"))
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// Start starts a versitygw with a bucket for the test and stops it when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "versitygw not found on PATH, in $GOBIN, in .ci/bin or in $(go env GOPATH)/bin: install it with " +
			"`GOBIN=$PWD/.ci/bin go install github.com/versity/versitygw/cmd/versitygw@" + Version + "` (from the repository root) to run the S3 tests"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &Server{bin: bin, Dir: t.TempDir(), Bucket: "media", out: &proctest.LockedBuffer{}}
	s.addr = proctest.FreeAddr(t)
	s.Endpoint = "http://" + s.addr
	t.Cleanup(s.Stop)
	if err := s.start(); err != nil {
		t.Fatalf("starting versitygw: %v\n%s", err, proctest.Tail(s.out.String(), 4096))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.Bucket}); err != nil {
		t.Fatalf("creating bucket %s: %v\n%s", s.Bucket, err, proctest.Tail(s.out.String(), 4096))
	}
	return s
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin, "--port", s.addr, "--access", AccessKey, "--secret", SecretKey,
		"--region", Region, "--quiet", "posix", s.Dir)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("versitygw exited: %v", err)
		default:
		}
		if s.answers() {
			go func() { <-exited }()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("versitygw did not answer within 30s")
}

// answers reports whether the gateway serves S3 requests.
func (s *Server) answers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := s.Client().ListBuckets(ctx, &s3.ListBucketsInput{})
	return err == nil
}

// Stop stops the gateway; it is safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	for range 200 {
		if cmd.Process.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
}

// Restart stops the gateway and starts it again on the same port and
// folder: what a server restart mid-run looks like to clients.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("restarting versitygw: %v\n%s", err, proctest.Tail(s.out.String(), 4096))
	}
}

// Client returns an SDK client of the gateway (path-style, static
// credentials, checksums only when required).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(s.Endpoint),
		Region:                     Region,
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// Env is the environment a process needs to reach the gateway through the
// SDK's standard variables.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_REGION=" + Region,
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
	}
}
