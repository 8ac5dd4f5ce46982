package wamedia

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
)

// EncryptResult describes a blob produced by Encrypt: the hashes a message
// carries (fileSha256, fileEncSha256) and the sizes.
type EncryptResult struct {
	FileSHA256    []byte // SHA-256 of the plain file
	FileEncSHA256 []byte // SHA-256 of the blob (ciphertext and mac)
	PlainLength   int64  // bytes read from r (fileLength)
	BlobLength    int64  // bytes written to w, = BlobSize(PlainLength)
}

// Encrypt encrypts the plain file read from r exactly as WhatsApp does and
// writes the blob (AES-256-CBC of the PKCS#7-padded file, then the first 10
// bytes of HMAC-SHA256(macKey, iv || ciphertext)) to w, streaming in
// constant memory. The keys are those of class c.
func Encrypt(r io.Reader, w io.Writer, mediaKey []byte, c Class) (EncryptResult, error) {
	var res EncryptResult
	keys, err := ExpandKeys(mediaKey, c)
	if err != nil {
		return res, err
	}
	block, err := aes.NewCipher(keys.CipherKey[:])
	if err != nil {
		return res, fmt.Errorf("wamedia: %w", err)
	}
	enc := cipher.NewCBCEncrypter(block, keys.IV[:])
	mac := hmac.New(sha256.New, keys.MACKey[:])
	mac.Write(keys.IV[:])
	plainH, encH := sha256.New(), sha256.New()

	bp := getBuf()
	defer putBuf(bp)
	buf := (*bp)[:chunkSize+blockSize] // room for the padding block
	for {
		n, rerr := io.ReadFull(r, buf[:chunkSize])
		eof := rerr == io.EOF || rerr == io.ErrUnexpectedEOF
		if rerr != nil && !eof {
			return res, fmt.Errorf("wamedia: reading plain file: %w", rerr)
		}
		plainH.Write(buf[:n])
		res.PlainLength += int64(n)
		if eof {
			pad := blockSize - n%blockSize
			for i := range pad {
				buf[n+i] = byte(pad)
			}
			n += pad
		}
		// n is a multiple of the block size: chunkSize is, and the tail is padded.
		ct := buf[:n]
		enc.CryptBlocks(ct, ct)
		mac.Write(ct)
		encH.Write(ct)
		if _, err := w.Write(ct); err != nil {
			return res, fmt.Errorf("wamedia: writing blob: %w", err)
		}
		res.BlobLength += int64(n)
		if eof {
			break
		}
	}
	tag := mac.Sum(nil)[:macSize]
	encH.Write(tag)
	if _, err := w.Write(tag); err != nil {
		return res, fmt.Errorf("wamedia: writing blob: %w", err)
	}
	res.BlobLength += macSize
	res.FileSHA256 = plainH.Sum(nil)
	res.FileEncSHA256 = encH.Sum(nil)
	return res, nil
}
