package wamedia

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// MediaKeySize is the size of a WhatsApp mediaKey in bytes.
const MediaKeySize = 32

// macSize is the size of the truncated HMAC-SHA256 that ends every blob.
const macSize = 10

// blockSize is the AES block size.
const blockSize = 16

// minBlobSize is the smallest possible blob: one block of padding and the mac.
const minBlobSize = blockSize + macSize

// Keys are the keys expanded from a mediaKey for one class.
type Keys struct {
	IV        [16]byte
	CipherKey [32]byte // AES-256
	MACKey    [32]byte // HMAC-SHA256
	RefKey    [32]byte // unused for media; kept for completeness
}

// ExpandKeys expands a 32-byte mediaKey with HKDF-SHA256 (empty salt, 112
// bytes, info = c.Info()): bytes 0–16 are the IV, 16–48 the AES-256 key, 48–80
// the HMAC key, 80–112 the ref key.
//
// The class follows the message kind, never the mimetype. Errors never
// include the key.
func ExpandKeys(mediaKey []byte, c Class) (Keys, error) {
	var k Keys
	if len(mediaKey) != MediaKeySize {
		return k, fmt.Errorf("wamedia: mediaKey is %d bytes, want %d", len(mediaKey), MediaKeySize)
	}
	info := c.Info()
	if info == "" {
		return k, fmt.Errorf("wamedia: unknown key class %q", c)
	}
	out, err := hkdf.Key(sha256.New, mediaKey, nil, info, 112)
	if err != nil {
		return k, fmt.Errorf("wamedia: expanding media key: %w", err)
	}
	copy(k.IV[:], out[0:16])
	copy(k.CipherKey[:], out[16:48])
	copy(k.MACKey[:], out[48:80])
	copy(k.RefKey[:], out[80:112])
	clear(out)
	return k, nil
}

// GenerateMediaKey returns a new random 32-byte mediaKey from crypto/rand.
func GenerateMediaKey() []byte {
	k := make([]byte, MediaKeySize)
	rand.Read(k) // never returns an error; it crashes the program if the OS RNG fails
	return k
}

// BlobSize returns the size of the blob that Encrypt produces for a plain
// file of plainLen bytes: the PKCS#7-padded ciphertext plus the 10-byte mac.
func BlobSize(plainLen int64) int64 {
	return (plainLen/blockSize+1)*blockSize + macSize
}

// DecodeBytes reads a key or a hash written as hex (64 digits) or as base64
// (standard or URL-safe, padded or not), the spellings providers and people
// use for mediaKey, fileSha256 and friends.
func DecodeBytes(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64 or hex")
}
