// Package proctest is the harness of the process-level tests (internal/e2e,
// internal/scaletest, internal/chaos): it builds the mediapipe binary (and
// any other Go command) once per test binary, starts commands as
// subprocesses with an environment of their own, captures their output,
// waits until they answer over HTTP, stops them with a signal, and reads
// what they expose (Prometheus metrics, JSON log lines) and what they write
// (the files under MEDIA_DIR).
//
// A package's TestMain builds what its tests run:
//
//	var mediapipe = &proctest.Binary{Name: "mediapipe", Package: proctest.MediapipePackage}
//
//	func TestMain(m *testing.M) { proctest.Main(m, "mediapipe-e2e-", mediapipe) }
//
// and a test starts a process and waits until it is ready:
//
//	addr := proctest.FreeAddr(t)
//	p := proctest.Start(t, proctest.Command{
//		Name: "ingest", Path: mediapipe.Path, Args: []string{"ingest"},
//		Env: proctest.Environ(vars, map[string]string{"HTTP_ADDR": addr}), Addr: addr,
//	})
//	p.KillAtCleanup(5000)
//	p.WaitReady(30 * time.Second)
//
// Every helper fails the test it is given rather than returning an error;
// every wait is bounded by a timeout.
package proctest
