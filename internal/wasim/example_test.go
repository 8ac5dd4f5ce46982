package wasim_test

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// A sample is encrypted and served at its directPath; the blob decrypts back
// to the sample. A fault makes the next request fail once.
func Example() {
	srv, err := wasim.New(wasim.Config{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	smp := samples.ByName(samples.AudioVoice)
	it, err := srv.AddSample(smp, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultError, Times: 1}))
	if err != nil {
		panic(err)
	}
	for range 2 {
		resp, err := http.Get(srv.CDNBaseURL() + it.DirectPath)
		if err != nil {
			panic(err)
		}
		var plain bytes.Buffer
		if resp.StatusCode == http.StatusOK {
			res, err := wamedia.Decrypt(resp.Body, &plain, it.Params())
			fmt.Println(resp.StatusCode, err, res.Mimetype, bytes.Equal(plain.Bytes(), smp.Data))
		} else {
			fmt.Println(resp.StatusCode)
		}
		resp.Body.Close()
	}
	// Output:
	// 500
	// 200 <nil> audio/ogg true
}
