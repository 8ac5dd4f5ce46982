// Package blob is the file store of verified media. Files are content
// addressed per cliente, MEDIA_DIR/<cliente_id>/<aa>/<bb>/<sha256hex><ext>
// (aa and bb are the first two byte pairs of the hex digest), so a file
// forwarded a thousand times is stored once per cliente.
//
// The downloader streams a blob through verification into a Pending file and
// commits it under its plain SHA-256 only after every check passed; until
// then nothing is visible under the final path. Paths are built only from
// ids, hex digests and a sanitized extension: a file name from a webhook
// never becomes a path.
//
// Two backends implement Store: Local (a directory, MEDIA_DIR) and S3 (a
// bucket of any S3-compatible server); OpenURL picks one from a URL. Every
// backend must pass blobtest.StoreSuite.
package blob

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Store keeps verified media files.
type Store interface {
	// Create starts a new file for the cliente. The caller writes to it and
	// then commits or aborts it.
	Create(clienteID int64) (*Pending, error)
	// Open opens a stored file by its relative path.
	Open(relPath string) (io.ReadSeekCloser, error)
	// Stat describes a stored file.
	Stat(relPath string) (Stored, error)
	// Exists reports whether a stored file is present; malformed paths are
	// never present.
	Exists(relPath string) bool
	// Remove deletes a stored file; removing a missing file is not an error.
	Remove(relPath string) error
	// CleanTemp removes temporary files untouched for longer than olderThan,
	// left by a killed process; it reports how many it removed.
	CleanTemp(olderThan time.Duration) (int, error)
}

// Stored describes a stored file.
type Stored struct {
	Path    string // relative to the store root, slash separated
	Size    int64
	ModTime time.Time
	// Deduplicated is set by Commit when the content was already stored and
	// the new copy was dropped.
	Deduplicated bool
}

// Errors of the store. Missing files are reported with errors wrapping
// fs.ErrNotExist.
var (
	// ErrInvalidPath is a relative path that the store could not have built.
	ErrInvalidPath = errors.New("invalid media path")
	// ErrClosed is a write, commit or abort on a Pending already committed or
	// aborted.
	ErrClosed = errors.New("pending file already committed or aborted")
	// ErrWrite wraps a failed write of a Pending (a full or failing disk):
	// the store's fault, never the content's.
	ErrWrite = errors.New("writing to the file store")
	// ErrMismatch is a Commit whose digest or extension differs from what
	// Expect announced: nothing is stored.
	ErrMismatch = errors.New("committed content differs from the expected one")
)

// backend is what a Store implementation provides behind a Pending.
type backend interface {
	io.Writer
	// commit makes the written bytes visible under rel; on failure it
	// discards them.
	commit(rel string, size int64) (Stored, error)
	abort() error
}

// expecter is a backend that uses the final path before the commit (S3
// uploads the parts straight to it).
type expecter interface {
	expect(rel string)
}

// binder is a backend that stops its work when a context ends.
type binder interface {
	bind(ctx context.Context)
}

// Pending is a file being written. It is not safe for concurrent use.
type Pending struct {
	cliente int64
	b       backend
	n       int64
	done    bool
	ctx     context.Context
	// wantSum and wantExt are what Expect announced.
	wantSum []byte
	wantExt string
}

// Bind ties the Pending to ctx: once ctx ends, writes and the commit fail
// with the context's error, and a backend with work in flight (S3's
// multipart upload) aborts it at once. The caller still calls Abort.
func (p *Pending) Bind(ctx context.Context) {
	p.ctx = ctx
	if b, ok := p.b.(binder); ok {
		b.bind(ctx)
	}
}

// Expect announces the plain SHA-256 and extension the content will be
// committed under, as soon as the caller knows them (the expected digest of
// the message and the sniffed extension). S3 then uploads the parts straight
// to the final key; a Commit with another digest or extension fails with
// ErrMismatch and stores nothing. Calling it is optional, once, before Commit.
func (p *Pending) Expect(sha256 []byte, ext string) error {
	if p.done {
		return ErrClosed
	}
	if p.wantSum != nil {
		return errors.New("expect: already announced")
	}
	rel, err := Key(p.cliente, sha256, ext)
	if err != nil {
		return err
	}
	p.wantSum, p.wantExt = bytes.Clone(sha256), SanitizeExt(ext)
	if e, ok := p.b.(expecter); ok {
		e.expect(rel)
	}
	return nil
}

// ctxErr is the error of the bound context, if it ended.
func (p *Pending) ctxErr() error {
	if p.ctx == nil {
		return nil
	}
	return context.Cause(p.ctx)
}

// Write appends to the file.
func (p *Pending) Write(b []byte) (int, error) {
	if p.done {
		return 0, ErrClosed
	}
	if err := p.ctxErr(); err != nil {
		return 0, err
	}
	n, err := p.b.Write(b)
	p.n += int64(n)
	if err != nil {
		if cerr := p.ctxErr(); cerr != nil {
			return n, cerr
		}
		err = fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return n, err
}

// Size is the number of bytes written so far.
func (p *Pending) Size() int64 { return p.n }

// Commit stores the file under its plain SHA-256 and extension (sanitized,
// see SanitizeExt) atomically: the final path holds either nothing or the
// whole file. When the content is already stored, the new copy is dropped and
// the existing file returned with Deduplicated set. A digest or extension
// other than Expect announced, or a bound context that ended, discards the
// file instead. After Commit, successful or not, the Pending is closed.
//
// Commit trusts sha256: the caller computed it over the bytes it wrote and
// verified them.
func (p *Pending) Commit(sha256 []byte, ext string) (Stored, error) {
	if p.done {
		return Stored{}, ErrClosed
	}
	rel, err := Key(p.cliente, sha256, ext)
	if err != nil {
		_ = p.Abort()
		return Stored{}, err
	}
	if p.wantSum != nil && (!bytes.Equal(sha256, p.wantSum) || SanitizeExt(ext) != p.wantExt) {
		_ = p.Abort()
		return Stored{}, fmt.Errorf("committing %s: %w", rel, ErrMismatch)
	}
	if err := p.ctxErr(); err != nil {
		_ = p.Abort()
		return Stored{}, err
	}
	p.done = true
	st, err := p.b.commit(rel, p.n)
	if err != nil {
		return Stored{}, fmt.Errorf("committing %s: %w", rel, err)
	}
	return st, nil
}

// Abort discards the file. It is safe to call more than once and after
// Commit.
func (p *Pending) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	return p.b.abort()
}

var (
	extRE  = regexp.MustCompile(`^\.[a-z0-9]{1,8}$`)
	pathRE = regexp.MustCompile(`^[1-9][0-9]{0,18}/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})\.[a-z0-9]{1,8}$`)
)

// SanitizeExt returns ext lower-cased with a leading dot when it then matches
// ^\.[a-z0-9]{1,8}$, else ".bin".
func SanitizeExt(ext string) string {
	ext = strings.ToLower(strings.TrimSpace(ext))
	if ext != "" && ext[0] != '.' {
		ext = "." + ext
	}
	if extRE.MatchString(ext) {
		return ext
	}
	return ".bin"
}

// Key returns the relative path of a file: <cliente_id>/<aa>/<bb>/<hex><ext>.
func Key(clienteID int64, sha256 []byte, ext string) (string, error) {
	if clienteID <= 0 {
		return "", fmt.Errorf("cliente id %d: %w", clienteID, ErrInvalidPath)
	}
	if len(sha256) != 32 {
		return "", fmt.Errorf("sha256 of %d bytes, want 32: %w", len(sha256), ErrInvalidPath)
	}
	h := hex.EncodeToString(sha256)
	return strconv.FormatInt(clienteID, 10) + "/" + h[0:2] + "/" + h[2:4] + "/" + h + SanitizeExt(ext), nil
}

// CheckPath reports whether rel is a path Key could have built; anything
// else (absolute paths, "..", other names) is ErrInvalidPath.
func CheckPath(rel string) error {
	m := pathRE.FindStringSubmatch(rel)
	if m == nil || m[1] != m[3][0:2] || m[2] != m[3][2:4] {
		return fmt.Errorf("%q: %w", rel, ErrInvalidPath)
	}
	return nil
}

// checkCliente validates a cliente id for Create.
func checkCliente(id int64) error {
	if id <= 0 {
		return fmt.Errorf("cliente id %d: %w", id, ErrInvalidPath)
	}
	return nil
}
