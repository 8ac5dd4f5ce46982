package wamedia

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
)

// chunkSize is how many blob bytes Decrypt reads and processes at a time
// (and Encrypt plain bytes). 128 KiB keeps a chunk and its plain output in
// L2 while every pass runs over it, and amortises per-call costs.
const chunkSize = 128 << 10

// slack is room for the bytes held back between chunks (< 42) and for the
// padding block of Encrypt.
const slack = 64

// parallelChunkSize is the chunk of Params.Parallel: each chunk costs two
// hand-overs between goroutines (and their wake-ups), which 512 KiB makes
// rare; with 128 KiB a 200 MiB download spent a fifth more CPU in them.
const parallelChunkSize = 512 << 10

var (
	bufPool    = sync.Pool{New: func() any { b := make([]byte, chunkSize+slack); return &b }}
	bigBufPool = sync.Pool{New: func() any { b := make([]byte, parallelChunkSize+slack); return &b }}
)

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }

// Params says how to verify one blob.
type Params struct {
	// MediaKey is the message's 32-byte mediaKey. Media with neither
	// MediaKey nor FileEncSHA256 is unencrypted (newsletter media) and is
	// verified by FileSHA256 alone.
	MediaKey []byte
	// Class selects the keys. Empty: ClassOf(MediaType).
	Class Class
	// FileSHA256 and FileEncSHA256 are the hashes from the message (32
	// bytes each). Both are required for encrypted media, FileSHA256 for
	// unencrypted media: a missing one is ErrMissingFields, never guessed,
	// unless OptionalHashes.
	FileSHA256    []byte
	FileEncSHA256 []byte
	// OptionalHashes skips the check of a hash that is absent instead of
	// failing with ErrMissingFields (for hand-run decryption of a blob whose
	// message is lost). The HMAC still authenticates encrypted media; an
	// unencrypted file without FileSHA256 is then not verified at all.
	OptionalHashes bool
	// MaxBytes caps the blob bytes read (0: no cap); more is ErrTooLarge.
	// Decrypt stops reading at MaxBytes+1 bytes.
	MaxBytes int64
	// MediaType selects the content check (Sniff). Empty: no check, but the
	// format is still sniffed and reported.
	MediaType MediaType
	// DeclaredMimetype is the mimetype the message declared. It never fails
	// a check; Result.Conformance relates it to the sniffed type.
	DeclaredMimetype string
	// AllowExecutables lets documents be executables or scripts.
	AllowExecutables bool
	// Parallel hashes the ciphertext (SHA-256 and HMAC) on a second goroutine
	// while this one decrypts, hashes the plain file and writes. Faster when
	// a second core is free; the same results, and memory still bounded
	// whatever the blob's size (four 512 KiB chunks instead of one of
	// 128 KiB): meant for large media.
	Parallel bool
}

// Params returns the verification parameters of a descriptor: key, class,
// hashes, media type and declared mimetype. The caller adds MaxBytes and the
// options.
func (d *Descriptor) Params() Params {
	c := d.Class
	if c == "" {
		c = ClassOf(d.Type)
	}
	return Params{
		MediaKey:         d.MediaKey,
		Class:            c,
		FileSHA256:       d.FileSHA256,
		FileEncSHA256:    d.FileEncSHA256,
		MediaType:        d.Type,
		DeclaredMimetype: d.Mimetype,
	}
}

// Result describes a verified (or partly verified) plain file.
type Result struct {
	PlainSHA256 []byte // SHA-256 of the plain bytes written to w
	PlainBytes  int64  // plain bytes written to w
	BlobBytes   int64  // blob bytes read from r
	Encrypted   bool   // false for unencrypted (newsletter) media

	// The content check (see Sniff): the sniffed mimetype without
	// parameters, the extension to store the file under (".jpg"), and how
	// the declared mimetype relates to it.
	Mimetype    string
	Extension   string
	Conformance Conformance
}

// Decrypt is DecryptContext with a background context.
func Decrypt(r io.Reader, w io.Writer, p Params) (Result, error) {
	return DecryptContext(context.Background(), r, w, p)
}

// DecryptContext verifies and decrypts the blob read from r in one streaming
// pass with constant memory (a few 128 KiB buffers, whatever the size), and
// writes the plain file to w.
//
// The blob flows through SHA-256 (fileEncSha256) and the HMAC, is decrypted
// with AES-256-CBC a chunk at a time (holding back the last block for the
// padding and the last 10 bytes for the mac), and flows through SHA-256
// (fileSha256) into w. The checks are judged in this order, the first that
// fails giving the error (see errors.go): ErrTooLarge as soon as MaxBytes is
// passed, then ErrTruncated, ErrEncHashMismatch, ErrMACMismatch,
// ErrBadPadding, ErrPlainHashMismatch, ErrTypeMismatch. ErrMissingFields
// comes before anything is read.
//
// Plain bytes reach w before the verdict. w must be a temporary the caller
// discards unless err == nil: never trust, serve or keep w's content
// otherwise. On error the Result holds what was learnt so far (sizes, and
// the sniffed type for ErrTypeMismatch).
//
// I/O errors of r and w are wrapped and returned as they are (Reason ""),
// except an io.ErrUnexpectedEOF from r (a cut body), which also wraps
// ErrTruncated. ctx is checked between chunks.
func DecryptContext(ctx context.Context, r io.Reader, w io.Writer, p Params) (Result, error) {
	res := Result{Encrypted: len(p.MediaKey) > 0 || len(p.FileEncSHA256) > 0}
	class := p.Class
	if class == "" {
		class = ClassOf(p.MediaType)
	}
	if err := p.validate(res.Encrypted, class); err != nil {
		return res, err
	}
	if p.MaxBytes > 0 {
		r = io.LimitReader(r, p.MaxBytes+1)
	}
	d := decrypter{ctx: ctx, r: r, w: w, p: &p, res: &res, plainH: sha256.New()}
	var err error
	if res.Encrypted {
		err = d.runEncrypted(class)
	} else {
		err = d.runPlain()
	}
	if err != nil {
		return res, err
	}

	res.PlainSHA256 = d.plainH.Sum(nil)
	if len(p.FileSHA256) > 0 {
		if subtle.ConstantTimeCompare(res.PlainSHA256, p.FileSHA256) != 1 {
			return res, fmt.Errorf("%w: want %s, got %s (%d plain bytes)", ErrPlainHashMismatch,
				hashPrefix(p.FileSHA256), hashPrefix(res.PlainSHA256), res.PlainBytes)
		}
	}

	c, err := SniffOptions{AllowExecutables: p.AllowExecutables}.Sniff(d.head[:d.headN], p.MediaType, p.DeclaredMimetype)
	res.Mimetype, res.Extension, res.Conformance = c.Mimetype, c.Extension, c.Conformance
	return res, err
}

func (p *Params) validate(encrypted bool, class Class) error {
	var probs []string
	need := func(name string, b []byte) {
		switch {
		case len(b) == 0:
			if !p.OptionalHashes || name == "mediaKey" {
				probs = append(probs, name+" missing")
			}
		case len(b) != 32:
			probs = append(probs, fmt.Sprintf("%s malformed (%d bytes, want 32)", name, len(b)))
		}
	}
	if p.MediaType != "" && ClassOf(p.MediaType) == "" {
		probs = append(probs, fmt.Sprintf("media type %q unknown", p.MediaType))
	}
	if encrypted {
		need("mediaKey", p.MediaKey)
		need("fileEncSha256", p.FileEncSHA256)
		if class.Info() == "" {
			probs = append(probs, fmt.Sprintf("key class %q unknown", class))
		}
	}
	need("fileSha256", p.FileSHA256)
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingFields, strings.Join(probs, ", "))
	}
	return nil
}

// decrypter is the state of one Decrypt call.
type decrypter struct {
	ctx    context.Context
	r      io.Reader
	w      io.Writer
	p      *Params
	res    *Result
	plainH hash.Hash

	head  [SniffLen]byte
	headN int
}

// read fills b from r, counting blob bytes and enforcing MaxBytes. eof
// reports that r is exhausted (io.EOF). Unlike io.ReadFull it keeps an
// io.ErrUnexpectedEOF of r (a cut body) apart from the end of the blob.
func (d *decrypter) read(b []byte) (n int, eof bool, err error) {
	if err := d.ctx.Err(); err != nil {
		return 0, false, fmt.Errorf("wamedia: %w", err)
	}
	for n < len(b) && err == nil {
		var m int
		m, err = d.r.Read(b[n:])
		n += m
	}
	d.res.BlobBytes += int64(n)
	switch {
	case err == io.EOF:
		eof = true
	case errors.Is(err, io.ErrUnexpectedEOF):
		return n, false, fmt.Errorf("wamedia: reading blob after %d bytes: %w (%w)", d.res.BlobBytes, ErrTruncated, err)
	case err != nil:
		return n, false, fmt.Errorf("wamedia: reading blob after %d bytes: %w", d.res.BlobBytes, err)
	}
	if d.p.MaxBytes > 0 && d.res.BlobBytes > d.p.MaxBytes {
		return n, false, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, d.p.MaxBytes)
	}
	return n, eof, nil
}

// emit hashes plain bytes, keeps the head for the content check, and writes
// them to w.
func (d *decrypter) emit(plain []byte) error {
	if len(plain) == 0 {
		return nil
	}
	if d.headN < SniffLen {
		d.headN += copy(d.head[d.headN:], plain)
	}
	d.plainH.Write(plain)
	if _, err := d.w.Write(plain); err != nil {
		return fmt.Errorf("wamedia: writing plain file: %w", err)
	}
	d.res.PlainBytes += int64(len(plain))
	return nil
}

// runPlain streams unencrypted media: the blob is the plain file.
func (d *decrypter) runPlain() error {
	bp := getBuf()
	defer putBuf(bp)
	buf := (*bp)[:chunkSize]
	for {
		n, eof, err := d.read(buf)
		if err != nil {
			return err
		}
		if err := d.emit(buf[:n]); err != nil {
			return err
		}
		if eof {
			return nil
		}
	}
}

// cipherJob is ciphertext handed to the hashing goroutine: enc are the bytes
// new to SHA-256(blob), ct the ciphertext for the HMAC; both point into buf,
// which goes back to the free list once hashed.
type cipherJob struct {
	enc, ct []byte
	buf     *[]byte
}

// runEncrypted streams encrypted media. On return without error the blob has
// passed the length, enc hash, MAC and padding checks and the whole plain file
// went through emit.
func (d *decrypter) runEncrypted(class Class) error {
	keys, err := ExpandKeys(d.p.MediaKey, class)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMissingFields, err)
	}
	block, err := aes.NewCipher(keys.CipherKey[:])
	if err != nil {
		return fmt.Errorf("wamedia: %w", err)
	}
	dec := cipher.NewCBCDecrypter(block, keys.IV[:])
	encH := sha256.New()
	mac := hmac.New(sha256.New, keys.MACKey[:])
	mac.Write(keys.IV[:])

	// Hashing of the ciphertext: inline, or on a second goroutine.
	var (
		jobs chan cipherJob
		free chan *[]byte
		done chan struct{}
		out  []byte // plain output when decrypting out of place
	)
	const nbuf = 3
	pool, chunk := &bufPool, chunkSize
	if d.p.Parallel {
		pool, chunk = &bigBufPool, parallelChunkSize
	}
	get := func() *[]byte { return pool.Get().(*[]byte) }
	if d.p.Parallel {
		jobs = make(chan cipherJob, nbuf)
		free = make(chan *[]byte, nbuf)
		done = make(chan struct{})
		for range nbuf {
			free <- get()
		}
		go func() {
			defer close(done)
			for j := range jobs {
				encH.Write(j.enc)
				mac.Write(j.ct)
				free <- j.buf
			}
		}()
		ob := get()
		defer pool.Put(ob)
		out = (*ob)[:chunk+slack]
	} else {
		free = make(chan *[]byte, 1)
		free <- get()
	}
	finished := false
	finish := func() {
		if finished {
			return
		}
		finished = true
		if jobs != nil {
			close(jobs)
			<-done
		}
	}
	defer func() {
		finish()
		for len(free) > 0 {
			pool.Put(<-free)
		}
	}()
	hashCipher := func(bp *[]byte, enc, ct []byte) {
		if jobs != nil {
			jobs <- cipherJob{enc: enc, ct: ct, buf: bp}
			return
		}
		encH.Write(enc)
		mac.Write(ct)
		free <- bp
	}
	// decrypt decrypts whole blocks, in place when no other goroutine reads
	// ct.
	decrypt := func(ct []byte) []byte {
		if out == nil {
			dec.CryptBlocks(ct, ct)
			return ct
		}
		pt := out[:len(ct)]
		dec.CryptBlocks(pt, ct)
		return pt
	}

	var prev []byte // held-back bytes (in the previous buffer)
	for {
		bp := <-free
		buf := *bp
		carry := copy(buf, prev)
		n, eof, err := d.read(buf[carry : carry+chunk])
		if err != nil {
			free <- bp
			return err
		}
		n += carry
		newBytes := buf[carry:n]

		if !eof {
			// Process every whole block but keep at least the last block and
			// the mac (26 bytes) back: they may be the end of the blob.
			p := 0
			if n >= minBlobSize {
				p = (n - minBlobSize) / blockSize * blockSize
			}
			ct := buf[:p]
			prev = buf[p:n]
			// Sequentially, the hashes are done when hashCipher returns and
			// ct is decrypted in place (the buffer stays ours until the next
			// round takes it back from free; the copy there moves prev to the
			// start). In parallel, the helper hashes ct while it is decrypted
			// out of place.
			hashCipher(bp, newBytes, ct)
			if err := d.emit(decrypt(ct)); err != nil {
				return err
			}
			continue
		}

		// The end of the blob: buf[:n] holds the rest.
		total := d.res.BlobBytes
		if total < minBlobSize || (total-macSize)%blockSize != 0 {
			free <- bp
			return fmt.Errorf("%w: blob is %d bytes, want at least %d and 10 more than a multiple of 16", ErrTruncated, total, minBlobSize)
		}
		ct, tag := buf[:n-macSize], buf[n-macSize:n]
		hashCipher(bp, newBytes, ct)
		finish() // wait for the hashing goroutine, if any
		encTag := mac.Sum(nil)[:macSize]

		if len(d.p.FileEncSHA256) > 0 {
			got := encH.Sum(nil)
			if subtle.ConstantTimeCompare(got, d.p.FileEncSHA256) != 1 {
				return fmt.Errorf("%w: want %s, got %s (%d blob bytes)", ErrEncHashMismatch,
					hashPrefix(d.p.FileEncSHA256), hashPrefix(got), total)
			}
		}
		if !hmac.Equal(encTag, tag) {
			return fmt.Errorf("%w: wrong media key or key class (%s)", ErrMACMismatch, class)
		}
		// The buffer is ours again (the hasher is done): decrypt in place.
		dec.CryptBlocks(ct, ct)
		last := ct[len(ct)-blockSize:]
		pad := int(last[blockSize-1])
		if pad == 0 || pad > blockSize {
			return fmt.Errorf("%w: pad byte %d", ErrBadPadding, pad)
		}
		for _, b := range last[blockSize-pad:] {
			if int(b) != pad {
				return fmt.Errorf("%w: inconsistent pad bytes", ErrBadPadding)
			}
		}
		return d.emit(ct[:len(ct)-pad])
	}
}
