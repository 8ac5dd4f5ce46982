package wamedia_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Encrypt a document as WhatsApp does, then verify and decrypt the blob as
// the downloader does: into a temporary writer whose content counts only when
// Decrypt returns no error.
func Example() {
	mediaKey := wamedia.GenerateMediaKey()
	plain := "Minutes of the meeting\n"

	var blob bytes.Buffer
	enc, err := wamedia.Encrypt(strings.NewReader(plain), &blob, mediaKey, wamedia.ClassDocument)
	if err != nil {
		panic(err)
	}
	fmt.Println("blob bytes:", enc.BlobLength, "=", wamedia.BlobSize(enc.PlainLength))

	// What a webhook's documentMessage carries.
	p := wamedia.Params{
		MediaKey:         mediaKey,
		Class:            wamedia.ClassDocument,
		FileSHA256:       enc.FileSHA256,
		FileEncSHA256:    enc.FileEncSHA256,
		MaxBytes:         2 << 30,
		MediaType:        wamedia.Document,
		DeclaredMimetype: "application/pdf", // it lies: recorded, not failed
	}
	var out bytes.Buffer // in real use a temporary file, discarded on error
	res, err := wamedia.Decrypt(bytes.NewReader(blob.Bytes()), &out, p)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", out.String())
	fmt.Println(res.PlainBytes, res.Mimetype, res.Extension, res.Conformance)

	// The same blob with the keys of the wrong class.
	p.Class = wamedia.ClassImage
	_, err = wamedia.Decrypt(bytes.NewReader(blob.Bytes()), io.Discard, p)
	fmt.Println(wamedia.Reason(err), wamedia.Transient(err))

	// Output:
	// blob bytes: 42 = 42
	// "Minutes of the meeting\n"
	// 23 text/plain .txt differs
	// mac_mismatch false
}
