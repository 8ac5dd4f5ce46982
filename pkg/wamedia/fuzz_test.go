package wamedia

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

var fuzzTypes = []MediaType{"", Image, Video, Audio, Document, Sticker}

// FuzzDecrypt feeds arbitrary blobs and keys to Decrypt and compares it with a
// whole-buffer reference implementation of the checks (refDecrypt): Decrypt
// must never panic, must fail with the reason of the first failing check, and
// must never return a nil error unless SHA-256 of the blob is fileEncSha256,
// the MAC is valid and SHA-256 of what it wrote is fileSha256.
//
// mode selects: bits 0–1 the key class, bit 2 a wrong fileEncSha256 (else
// the blob's own hash, so the later checks are reached), bit 3 a fileSha256
// taken from the reference plaintext (else the fileSHA argument), bits 4–6 the
// media type of the content check, bit 7 Params.Parallel.
func FuzzDecrypt(f *testing.F) {
	f.Fuzz(func(t *testing.T, blob, key, fileSHA []byte, mode uint8) {
		if len(key) != 32 {
			k := sha256.Sum256(key)
			key = k[:]
		}
		class := allClasses[mode&3]
		encHash := sha(blob)
		if mode&4 != 0 {
			encHash = sha(append([]byte("not "), blob...))
		}
		wantReason, refPlain := refDecrypt(blob, key, class, nil, encHash)
		if mode&8 != 0 && (wantReason == "" || wantReason == "plain_hash_mismatch") {
			fileSHA = sha(refPlain)
		} else {
			fileSHA = append(bytes.Clone(fileSHA), make([]byte, 32)...)[:32]
		}
		wantReason, refPlain = refDecrypt(blob, key, class, fileSHA, encHash)
		typ := fuzzTypes[int(mode>>4&7)%len(fuzzTypes)]
		if wantReason == "" {
			if _, err := Sniff(refPlain, typ, ""); err != nil {
				wantReason = Reason(err)
			}
		}

		p := Params{MediaKey: key, Class: class, FileSHA256: fileSHA, FileEncSHA256: encHash, MediaType: typ, Parallel: mode&128 != 0}
		var out bytes.Buffer
		res, err := Decrypt(bytes.NewReader(blob), &out, p)
		if got := Reason(err); got != wantReason {
			t.Fatalf("reason %q (%v), reference says %q", got, err, wantReason)
		}
		if err == nil {
			if !bytes.Equal(sha(blob), encHash) || !bytes.Equal(sha(out.Bytes()), fileSHA) || !bytes.Equal(out.Bytes(), refPlain) {
				t.Fatal("nil error but the hashes or the plaintext do not match")
			}
			if res.PlainBytes != int64(out.Len()) || res.BlobBytes != int64(len(blob)) {
				t.Fatalf("bad sizes %+v", res)
			}
		}
	})
}
