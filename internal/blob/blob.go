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
// Store is an interface so that other backends (S3) can follow; every backend
// must pass blobtest.StoreSuite.
package blob

import (
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
)

// backend is what a Store implementation provides behind a Pending.
type backend interface {
	io.Writer
	// commit makes the written bytes visible under rel; on failure it
	// discards them.
	commit(rel string, size int64) (Stored, error)
	abort() error
}

// Pending is a file being written. It is not safe for concurrent use.
type Pending struct {
	cliente int64
	b       backend
	n       int64
	done    bool
}

// Write appends to the file.
func (p *Pending) Write(b []byte) (int, error) {
	if p.done {
		return 0, ErrClosed
	}
	n, err := p.b.Write(b)
	p.n += int64(n)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return n, err
}

// Size is the number of bytes written so far.
func (p *Pending) Size() int64 { return p.n }

// Commit stores the file under its plain SHA-256 and extension (sanitized,
// see SanitizeExt) atomically: the final path holds either nothing or the
// whole file. When the content is already stored, the new copy is dropped and
// the existing file returned with Deduplicated set. After Commit, successful
// or not, the Pending is closed.
func (p *Pending) Commit(sha256 []byte, ext string) (Stored, error) {
	if p.done {
		return Stored{}, ErrClosed
	}
	rel, err := Key(p.cliente, sha256, ext)
	if err != nil {
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
