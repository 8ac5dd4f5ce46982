package wamedia

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

var allClasses = []Class{ClassImage, ClassVideo, ClassAudio, ClassDocument}

// modes runs f sequentially and with Params.Parallel.
func modes(t *testing.T, f func(t *testing.T, parallel bool)) {
	t.Run("seq", func(t *testing.T) { f(t, false) })
	t.Run("par", func(t *testing.T) { f(t, true) })
}

type sample struct {
	plain, blob, key []byte
	class            Class
	res              EncryptResult
}

func encryptSample(t testing.TB, plain []byte, c Class) sample {
	t.Helper()
	key := GenerateMediaKey()
	var blob bytes.Buffer
	res, err := Encrypt(bytes.NewReader(plain), &blob, key, c)
	if err != nil {
		t.Fatal(err)
	}
	return sample{plain: plain, blob: blob.Bytes(), key: key, class: c, res: res}
}

func (s sample) params(t MediaType) Params {
	return Params{MediaKey: s.key, Class: s.class, FileSHA256: s.res.FileSHA256, FileEncSHA256: s.res.FileEncSHA256, MediaType: t}
}

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// sealRaw makes a blob from ciphertext-to-be (no padding added): CBC of
// plain (a multiple of 16 bytes), then a valid mac. It returns the blob.
func sealRaw(t testing.TB, key []byte, c Class, plain []byte) []byte {
	t.Helper()
	k, err := ExpandKeys(key, c)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := aes.NewCipher(k.CipherKey[:])
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(b, k.IV[:]).CryptBlocks(ct, plain)
	m := hmac.New(sha256.New, k.MACKey[:])
	m.Write(k.IV[:])
	m.Write(ct)
	return append(ct, m.Sum(nil)[:macSize]...)
}

// refDecrypt is a plain, whole-buffer reference implementation of the
// checks, used as an oracle by the fuzz target. It returns the reason of the
// first failing check ("" when all pass) and the plain file.
func refDecrypt(blob, key []byte, c Class, fileSHA, fileEncSHA []byte) (string, []byte) {
	if len(blob) < 26 || (len(blob)-10)%16 != 0 {
		return "truncated", nil
	}
	if !bytes.Equal(sha(blob), fileEncSHA) {
		return "enc_hash_mismatch", nil
	}
	k, err := ExpandKeys(key, c)
	if err != nil {
		return "missing_fields", nil
	}
	ct, tag := blob[:len(blob)-10], blob[len(blob)-10:]
	m := hmac.New(sha256.New, k.MACKey[:])
	m.Write(k.IV[:])
	m.Write(ct)
	if !bytes.Equal(m.Sum(nil)[:10], tag) {
		return "mac_mismatch", nil
	}
	b, _ := aes.NewCipher(k.CipherKey[:])
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(b, k.IV[:]).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > 16 {
		return "bad_padding", nil
	}
	for _, x := range pt[len(pt)-pad:] {
		if int(x) != pad {
			return "bad_padding", nil
		}
	}
	pt = pt[:len(pt)-pad]
	if !bytes.Equal(sha(pt), fileSHA) {
		return "plain_hash_mismatch", pt
	}
	return "", pt
}

// chunkyReader returns at most n bytes per Read, to exercise short reads.
type chunkyReader struct {
	r io.Reader
	n int
}

func (c *chunkyReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

// cutReader returns its data, then io.ErrUnexpectedEOF, like a cut HTTP body.
type cutReader struct{ r io.Reader }

func (c cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
