package wamedia

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"io"
	"sync"
	"testing"
	"time"
)

const benchSize = 64 << 20

var bench struct {
	once  sync.Once
	plain []byte
	s     sample
	keys  Keys
	dst   []byte
}

func benchSample(b *testing.B) *sample {
	bench.once.Do(func() {
		bench.plain = randBytes(benchSize-100, 1) // a 64 MiB blob
		bench.s = encryptSample(b, bench.plain, ClassVideo)
		bench.keys, _ = ExpandKeys(bench.s.key, ClassVideo)
		bench.dst = make([]byte, len(bench.s.blob))
	})
	return &bench.s
}

func benchDecrypt(b *testing.B, parallel bool) {
	s := benchSample(b)
	p := s.params("")
	p.Parallel = parallel
	b.SetBytes(int64(len(s.blob)))
	b.ResetTimer()
	for range b.N {
		if _, err := Decrypt(bytes.NewReader(s.blob), io.Discard, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecrypt64MiB verifies and decrypts a 64 MiB blob on one goroutine.
func BenchmarkDecrypt64MiB(b *testing.B) { benchDecrypt(b, false) }

// BenchmarkDecrypt64MiBParallel does the same with Params.Parallel.
func BenchmarkDecrypt64MiBParallel(b *testing.B) { benchDecrypt(b, true) }

func BenchmarkEncrypt64MiB(b *testing.B) {
	s := benchSample(b)
	b.SetBytes(int64(len(bench.plain)))
	b.ResetTimer()
	for range b.N {
		if _, err := Encrypt(bytes.NewReader(bench.plain), io.Discard, s.key, ClassVideo); err != nil {
			b.Fatal(err)
		}
	}
}

// The passes alone, each over the whole 64 MiB blob.

func passSHA256(blob []byte) { sha256.Sum256(blob) }

func passHMAC(blob []byte) {
	m := hmac.New(sha256.New, bench.keys.MACKey[:])
	m.Write(bench.keys.IV[:])
	m.Write(blob[:len(blob)-macSize])
	m.Sum(nil)
}

func passAESCBC(blob []byte) {
	blk, _ := aes.NewCipher(bench.keys.CipherKey[:])
	n := len(blob) - macSize
	cipher.NewCBCDecrypter(blk, bench.keys.IV[:]).CryptBlocks(bench.dst[:n], blob[:n])
}

func benchPass(b *testing.B, pass func([]byte)) {
	s := benchSample(b)
	b.SetBytes(int64(len(s.blob)))
	b.ResetTimer()
	for range b.N {
		pass(s.blob)
	}
}

func BenchmarkPassSHA256(b *testing.B) { benchPass(b, passSHA256) }
func BenchmarkPassHMAC(b *testing.B)   { benchPass(b, passHMAC) }
func BenchmarkPassAESCBC(b *testing.B) { benchPass(b, passAESCBC) }

// BenchmarkDecryptVsBound measures, in each iteration and over the same
// buffer, the three passes alone and Decrypt (sequential and parallel), and
// reports the throughputs and the ratio of Decrypt's to the sum-of-passes
// bound 1/(2/SHA256 + 1/HMAC + 1/AES-CBC): "ratio" for one goroutine (the
// target is ≥ 0.85), "ratio-par" with Params.Parallel.
func BenchmarkDecryptVsBound(b *testing.B) {
	s := benchSample(b)
	p := s.params("")
	pp := p
	pp.Parallel = true
	var tSHA, tHMAC, tAES, tDec, tPar time.Duration
	timeIt := func(f func()) time.Duration { t0 := time.Now(); f(); return time.Since(t0) }
	b.ResetTimer()
	for range b.N {
		tSHA += timeIt(func() { passSHA256(s.blob) })
		tHMAC += timeIt(func() { passHMAC(s.blob) })
		tAES += timeIt(func() { passAESCBC(s.blob) })
		tDec += timeIt(func() {
			if _, err := Decrypt(bytes.NewReader(s.blob), io.Discard, p); err != nil {
				b.Fatal(err)
			}
		})
		tPar += timeIt(func() {
			if _, err := Decrypt(bytes.NewReader(s.blob), io.Discard, pp); err != nil {
				b.Fatal(err)
			}
		})
	}
	mbs := func(d time.Duration) float64 { return float64(len(s.blob)) * float64(b.N) / d.Seconds() / 1e6 }
	bound := 2*tSHA + tHMAC + tAES
	b.ReportMetric(mbs(tSHA), "sha256-MB/s")
	b.ReportMetric(mbs(tHMAC), "hmac-MB/s")
	b.ReportMetric(mbs(tAES), "aescbc-MB/s")
	b.ReportMetric(mbs(bound), "bound-MB/s")
	b.ReportMetric(mbs(tDec), "decrypt-MB/s")
	b.ReportMetric(mbs(tPar), "parallel-MB/s")
	b.ReportMetric(bound.Seconds()/tDec.Seconds(), "ratio")
	b.ReportMetric(bound.Seconds()/tPar.Seconds(), "ratio-par")
}
