package wasim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

type testBundle struct {
	srv    *Server
	client *http.Client
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	srv, err := New(Config{Seed: 42})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return &testBundle{
		srv: srv,
		client: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func (b *testBundle) add(t *testing.T, name string, opts ...ItemOption) *Item {
	t.Helper()
	it, err := b.srv.AddSample(samples.ByName(name), opts...)
	require.NoError(t, err)
	return it
}

func (b *testBundle) get(t *testing.T, path string) *http.Response {
	t.Helper()
	resp, err := b.client.Get(b.srv.CDNBaseURL() + path)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// fetch GETs the item's blob and verifies it with wamedia.
func (b *testBundle) fetch(t *testing.T, it *Item) ([]byte, error) {
	t.Helper()
	resp := b.get(t, it.DirectPath)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var plain bytes.Buffer
	_, err := wamedia.Decrypt(resp.Body, &plain, it.Params())
	return plain.Bytes(), err
}

func TestServesBlobsThatDecryptToTheSamples(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, smp := range samples.Benign() {
		it, err := b.srv.AddSample(smp)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(it.DirectPath, "/v/t62."), it.DirectPath)
		require.Contains(t, it.DirectPath, "_n.enc?ccb=11-4&oh=01_Q5Aa")
		require.Contains(t, it.DirectPath, "&_nc_sid=5e03e0")
		require.True(t, strings.HasPrefix(it.URL, "https://mmg.whatsapp.net"+it.DirectPath))
		require.True(t, strings.HasSuffix(it.URL, "&mms3=true"))
		require.EqualValues(t, len(smp.Data), it.FileLength)
		require.Equal(t, wamedia.BlobSize(it.FileLength), it.BlobLength)

		plain, err := b.fetch(t, it)
		require.NoError(t, err, smp.Name)
		require.Equal(t, smp.Data, plain, smp.Name)
	}
	// A body is counted once the handler returns, which may be just after
	// the client read its last byte (sendfile).
	require.Eventually(t, func() bool { return b.srv.Stats().CDNServed == int64(len(samples.Benign())) },
		5*time.Second, 5*time.Millisecond, "every blob counted as served")
	require.Empty(t, b.srv.Stats().Faults)
}

func TestHostileSamplesFailTheContentCheck(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, name := range []string{samples.HostileELFAsPDF, samples.HostilePDFAsJPEG} {
		_, err := b.fetch(t, b.add(t, name))
		require.ErrorIs(t, err, wamedia.ErrTypeMismatch, name)
	}
}

func TestUnencryptedMedia(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.ImageJPEG, Unencrypted())
	require.Nil(t, it.MediaKey)
	mo := it.MediaObject()
	require.NotContains(t, mo, "mediaKey")
	require.NotContains(t, mo, "fileEncSha256")
	plain, err := b.fetch(t, it)
	require.NoError(t, err)
	require.Equal(t, samples.ByName(samples.ImageJPEG).Data, plain)
}

func TestQueryIsChecked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.ImageJPEG)
	path, query, _ := strings.Cut(it.DirectPath, "?")

	require.Equal(t, http.StatusForbidden, b.get(t, path).StatusCode, "query stripped")
	require.Equal(t, http.StatusForbidden, b.get(t, strings.Replace(it.DirectPath, "oh=01_", "oh=02_", 1)).StatusCode)
	require.Equal(t, http.StatusForbidden, b.get(t, path+"?"+strings.Replace(query, "oe=", "oe=1", 1)).StatusCode)
	require.Equal(t, http.StatusNotFound, b.get(t, "/v/t62.7118-24/1_2_n.enc?"+query).StatusCode)
	require.Equal(t, http.StatusOK, b.get(t, it.DirectPath+"&mms3=true").StatusCode, "extra parameters are fine")

	old := b.add(t, samples.ImageJPEG, ExpiredURL())
	resp := b.get(t, old.DirectPath)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(body), "expired")

	st := b.srv.Stats()
	require.EqualValues(t, 4, st.CDNForbidden)
	require.EqualValues(t, 1, st.CDNNotFound)
	require.EqualValues(t, 4, it.Requests())
}

func TestHead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.DocumentPDF)
	resp, err := b.client.Head(b.srv.URL() + it.DirectPath)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, it.BlobLength, resp.ContentLength)
}

func TestAnsweringFaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.ImageJPEG)

	require.NoError(t, it.SetFaults(Fault{Kind: FaultError, Times: 2}))
	require.Equal(t, 500, b.get(t, it.DirectPath).StatusCode)
	require.Equal(t, 500, b.get(t, it.DirectPath).StatusCode)
	require.Equal(t, 200, b.get(t, it.DirectPath).StatusCode, "Times caps the fault")

	require.NoError(t, it.SetFaults(Fault{Kind: FaultError, Status: 503}))
	require.Equal(t, 503, b.get(t, it.DirectPath).StatusCode)

	require.NoError(t, it.SetFaults(Fault{Kind: FaultRateLimit, RetryAfter: 1500 * time.Millisecond}))
	resp := b.get(t, it.DirectPath)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "2", resp.Header.Get("Retry-After"))

	for _, st := range []int{403, 404, 410} {
		require.NoError(t, it.Expire(st))
		require.Equal(t, st, b.get(t, it.DirectPath).StatusCode)
	}

	require.NoError(t, it.SetFaults(Fault{Kind: FaultRedirect}))
	resp = b.get(t, it.DirectPath)
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "http://127.0.0.2:"))
	require.True(t, strings.HasSuffix(resp.Header.Get("Location"), it.DirectPath))

	require.NoError(t, it.SetFaults(Fault{Kind: FaultRedirect, Location: "http://evil.invalid/x"}))
	require.Equal(t, "http://evil.invalid/x", b.get(t, it.DirectPath).Header.Get("Location"))

	require.NoError(t, it.SetFaults())
	require.Equal(t, 200, b.get(t, it.DirectPath).StatusCode)

	st := b.srv.Stats()
	require.EqualValues(t, 3, st.Faults[FaultError])
	require.EqualValues(t, 1, st.Faults[FaultRateLimit])
	require.EqualValues(t, 3, st.Faults[FaultExpired])
	require.EqualValues(t, 2, st.Faults[FaultRedirect])
}

func TestItemFaultsComeBeforeGlobalOnes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, c := b.add(t, samples.ImageJPEG), b.add(t, samples.ImagePNG)
	require.NoError(t, b.srv.SetFaults(Fault{Kind: FaultError, Status: 502}))
	require.NoError(t, a.Expire(410))
	require.Equal(t, 410, b.get(t, a.DirectPath).StatusCode)
	require.Equal(t, 502, b.get(t, c.DirectPath).StatusCode)
	require.Len(t, b.srv.Faults(), 1)
}

func TestFaultRate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.StickerWebP)
	require.NoError(t, b.srv.SetFaults(Fault{Kind: FaultError, Rate: 0.3}))
	failed := 0
	const n = 200
	for range n {
		if b.get(t, it.DirectPath).StatusCode == 500 {
			failed++
		}
	}
	require.InDelta(t, 0.3*n, failed, 0.12*n)
	require.EqualValues(t, failed, b.srv.Stats().Faults[FaultError])
}

func TestLatency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.StickerWebP, WithFaults(Fault{Kind: FaultLatency, Delay: 150 * time.Millisecond}))
	start := time.Now()
	plain, err := b.fetch(t, it)
	require.NoError(t, err)
	require.NotEmpty(t, plain)
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
}

func TestCorruptAndTruncatedBodies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.DocumentPDF)

	require.NoError(t, it.SetFaults(Fault{Kind: FaultCorrupt}))
	_, err := b.fetch(t, it)
	require.ErrorIs(t, err, wamedia.ErrEncHashMismatch)

	require.NoError(t, it.SetFaults(Fault{Kind: FaultTruncate}))
	resp := b.get(t, it.DirectPath)
	require.Equal(t, it.BlobLength-7, resp.ContentLength)
	_, err = wamedia.Decrypt(resp.Body, io.Discard, it.Params())
	require.ErrorIs(t, err, wamedia.ErrTruncated)

	require.NoError(t, it.SetFaults(Fault{Kind: FaultTruncate, After: 16 * 4}))
	resp = b.get(t, it.DirectPath)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "a short body that matches its Content-Length reads cleanly")
	require.Len(t, body, 64)

	st := b.srv.Stats()
	require.EqualValues(t, 1, st.Faults[FaultCorrupt])
	require.EqualValues(t, 2, st.Faults[FaultTruncate])
	require.Zero(t, st.CDNServed)
}

func TestResetMidBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.VideoPTV, WithFaults(Fault{Kind: FaultReset, After: 1000}))
	resp := b.get(t, it.DirectPath)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, it.BlobLength, resp.ContentLength)
	body, err := io.ReadAll(resp.Body)
	require.Error(t, err)
	require.Len(t, body, 1000)

	blob, err := it.OpenBlob()
	require.NoError(t, err)
	defer blob.Close()
	want := make([]byte, 1000)
	_, err = io.ReadFull(blob, want)
	require.NoError(t, err)
	require.Equal(t, want, body)

	// Through wamedia, a reset is a cut transfer.
	resp = b.get(t, it.DirectPath)
	_, err = wamedia.Decrypt(resp.Body, io.Discard, it.Params())
	require.Error(t, err)
	require.EqualValues(t, 2, b.srv.Stats().Faults[FaultReset])
}

func TestSlowBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.ImageJPEG, WithFaults(Fault{Kind: FaultSlow, BytesPerSecond: 40}))
	resp := b.get(t, it.DirectPath)
	start := time.Now()
	p := make([]byte, 5)
	_, err := io.ReadFull(resp.Body, p)
	require.NoError(t, err)
	// 40 B/s goes out in 4-byte chunks every 100 ms: 5 bytes take a pause.
	require.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond)
	resp.Body.Close() // the server stops writing when the client leaves
}

func TestStall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.ImageJPEG, WithFaults(Fault{Kind: FaultStall, After: 10}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.srv.URL()+it.DirectPath, nil)
	require.NoError(t, err)
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	p := make([]byte, 10)
	_, err = io.ReadFull(resp.Body, p)
	require.NoError(t, err)

	got := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(p)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("read returned during a stall: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	require.Error(t, <-got)
}

// Not parallel: it measures the process's allocations.
func TestLargeMediaStreamsFromDisk(t *testing.T) {
	b := setup(t)
	const size = 16 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	it, err := b.srv.AddMedia(samples.LargeVideoSample(size), samples.LargeVideo(size))
	require.NoError(t, err)
	require.EqualValues(t, size, it.FileLength)

	resp := b.get(t, it.DirectPath)
	res, err := wamedia.Decrypt(resp.Body, io.Discard, it.Params())
	require.NoError(t, err)
	require.EqualValues(t, size, res.PlainBytes)
	require.Equal(t, "video/mp4", res.Mimetype)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB to encrypt, serve and decrypt %d MiB", alloc>>10, size>>20)
	require.Less(t, alloc, uint64(size/2), "media must not be held in memory")
}

func TestAddMediaErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.srv.AddMedia(samples.Sample{Type: "hologram"}, strings.NewReader("x"))
	require.Error(t, err)
	_, err = b.srv.AddMedia(samples.ByName(samples.ImageJPEG), iotestErrReader{})
	require.Error(t, err)
	_, err = b.srv.AddSample(samples.ByName(samples.ImageJPEG), WithFaults(Fault{Kind: "bogus"}))
	require.Error(t, err)
	require.Empty(t, b.srv.Items())
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{":0", "0.0.0.0:0", "192.168.1.10:80", "localhost:0", "example.com:80", "nonsense"} {
		_, err := New(Config{Addr: addr})
		require.Error(t, err, addr)
	}
	require.NoError(t, CheckLoopback("127.0.0.1:0"))
	require.NoError(t, CheckLoopback("[::1]:8080"))
}

func TestCloseEndsStalledResponses(t *testing.T) {
	t.Parallel()
	srv, err := New(Config{})
	require.NoError(t, err)
	it, err := srv.AddSample(samples.ByName(samples.ImageJPEG), WithFaults(Fault{Kind: FaultStall}, Fault{Kind: FaultLatency, Delay: time.Hour}))
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() {
		resp, err := http.Get(srv.URL() + it.DirectPath)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		got <- err
	}()
	require.Eventually(t, func() bool { return srv.Stats().CDNRequests == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, srv.Close())
	require.Error(t, <-got)
	_, err = os.Stat(srv.Dir())
	require.True(t, os.IsNotExist(err), "the temporary directory is removed")
}
