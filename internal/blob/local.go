package blob

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// tmpDir is the per-cliente directory of files being written. The final
// directory depends on the digest, unknown until the stream ends; keeping
// the temporary files under the cliente's directory keeps them on the same
// filesystem, so the commit is a rename.
const tmpDir = ".tmp"

// Local is a Store on the local disk, rooted at MEDIA_DIR. Several processes
// may share one root.
type Local struct {
	root string
}

var _ Store = (*Local)(nil)

// NewLocal returns a store rooted at root, creating the directory.
func NewLocal(root string) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("media directory %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("creating media directory: %w", err)
	}
	return &Local{root: abs}, nil
}

// Root is the absolute directory of the store.
func (l *Local) Root() string { return l.root }

// Create starts a temporary file MEDIA_DIR/<cliente_id>/.tmp/.<random>.part.
func (l *Local) Create(clienteID int64) (*Pending, error) {
	if err := checkCliente(clienteID); err != nil {
		return nil, err
	}
	dir := filepath.Join(l.root, strconv.FormatInt(clienteID, 10), tmpDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating temporary directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".*.part")
	if err != nil {
		return nil, fmt.Errorf("creating temporary file: %w", err)
	}
	return &Pending{cliente: clienteID, b: &localFile{root: l.root, f: f}}, nil
}

// full maps a checked relative path to the filesystem.
func (l *Local) full(rel string) (string, error) {
	if err := CheckPath(rel); err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(rel)), nil
}

// Open opens a stored file.
func (l *Local) Open(rel string) (io.ReadSeekCloser, error) {
	p, err := l.full(rel)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file: %w", rel, fs.ErrNotExist)
	}
	return f, nil
}

// Stat describes a stored file.
func (l *Local) Stat(rel string) (Stored, error) {
	p, err := l.full(rel)
	if err != nil {
		return Stored{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return Stored{}, err
	}
	if !fi.Mode().IsRegular() {
		return Stored{}, fmt.Errorf("%s is not a regular file: %w", rel, fs.ErrNotExist)
	}
	return Stored{Path: rel, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Exists reports whether a stored file is present.
func (l *Local) Exists(rel string) bool {
	_, err := l.Stat(rel)
	return err == nil
}

// Remove deletes a stored file. Empty directories are left in place: a
// concurrent Commit may be about to use them.
func (l *Local) Remove(rel string) error {
	p, err := l.full(rel)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// CleanTemp removes .part files in every cliente's temporary directory whose
// last write is older than olderThan. Call it when a downloader starts; pick
// olderThan well above the longest download, since other processes may be
// writing into the same root.
func (l *Local) CleanTemp(olderThan time.Duration) (int, error) {
	clientes, err := os.ReadDir(l.root)
	if err != nil {
		return 0, fmt.Errorf("listing media directory: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	var errs []error
	for _, c := range clientes {
		if !c.IsDir() {
			continue
		}
		dir := filepath.Join(l.root, c.Name(), tmpDir)
		parts, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range parts {
			name := e.Name()
			if !e.Type().IsRegular() || !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".part") {
				continue
			}
			fi, err := e.Info()
			if err != nil || !fi.ModTime().Before(cutoff) {
				continue // gone meanwhile, or still fresh
			}
			if err := os.Remove(filepath.Join(dir, name)); err == nil {
				removed++
			} else if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("cleaning temporary files: %w", err)
	}
	return removed, nil
}

// localFile is the backend of a Local Pending.
type localFile struct {
	root string
	f    *os.File
}

func (lf *localFile) Write(b []byte) (int, error) { return lf.f.Write(b) }

func (lf *localFile) abort() error {
	lf.f.Close()
	if err := os.Remove(lf.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing temporary file: %w", err)
	}
	return nil
}

func (lf *localFile) commit(rel string, size int64) (Stored, error) {
	st, err := lf.place(rel, size)
	if err != nil {
		_ = lf.abort()
	}
	return st, err
}

func (lf *localFile) place(rel string, size int64) (Stored, error) {
	tmp := lf.f.Name()
	if err := lf.f.Chmod(0o640); err != nil {
		return Stored{}, err
	}
	if err := lf.f.Sync(); err != nil {
		return Stored{}, fmt.Errorf("syncing: %w", err)
	}
	if err := lf.f.Close(); err != nil {
		return Stored{}, err
	}

	final := filepath.Join(lf.root, filepath.FromSlash(rel))
	bb := filepath.Dir(final)
	aa := filepath.Dir(bb)
	cliente := filepath.Dir(aa)
	createdAA, err := mkdir(aa)
	if err != nil {
		return Stored{}, err
	}
	createdBB, err := mkdir(bb)
	if err != nil {
		return Stored{}, err
	}

	// Same digest, same size: the content is already there.
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
		if err := os.Remove(tmp); err != nil {
			return Stored{}, fmt.Errorf("removing duplicate temporary file: %w", err)
		}
		return Stored{Path: rel, Size: size, ModTime: fi.ModTime(), Deduplicated: true}, nil
	}
	if err := os.Rename(tmp, final); err != nil {
		return Stored{}, err
	}
	for _, d := range []struct {
		dir  string
		sync bool
	}{{bb, true}, {aa, createdBB}, {cliente, createdAA}} {
		if d.sync {
			if err := syncDir(d.dir); err != nil {
				return Stored{}, err
			}
		}
	}
	fi, err := os.Stat(final)
	if err != nil {
		return Stored{}, err
	}
	return Stored{Path: rel, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// mkdir creates dir if needed and reports whether it did.
func mkdir(dir string) (bool, error) {
	err := os.Mkdir(dir, 0o750)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrExist) {
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return false, nil
		}
	}
	return false, err
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
