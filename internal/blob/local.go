package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// Probe reports whether the store takes writes: it creates, writes, syncs
// and removes a small file under the root. A read-only or full disk, or a
// root that is gone, gives an error wrapping ErrWrite. Readiness checks and
// the downloader's store gate call it.
func (l *Local) Probe() error {
	f, err := os.CreateTemp(l.root, ".probe-*")
	if err != nil {
		return fmt.Errorf("%w: probing %s: %w", ErrWrite, l.root, err)
	}
	name := f.Name()
	_, err = f.Write([]byte("mediapipe store probe\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("%w: probing %s: %w", ErrWrite, l.root, err)
	}
	return nil
}

// Create starts a temporary file MEDIA_DIR/<cliente_id>/.tmp/.<random>.part.
// The writer holds an exclusive lock (flock) on it until it is committed or
// aborted, which tells CleanTemp that it is not an orphan.
func (l *Local) Create(clienteID int64) (*Pending, error) {
	if err := checkCliente(clienteID); err != nil {
		return nil, err
	}
	dir := filepath.Join(l.root, strconv.FormatInt(clienteID, 10), tmpDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating temporary directory: %w", err)
	}
	f, err := createLocked(dir)
	if err != nil {
		return nil, err
	}
	return &Pending{cliente: clienteID, b: &localFile{root: l.root, f: f}}, nil
}

// bind removes the temporary file once ctx ends: the writes that follow go
// to an unlinked file and the commit fails.
func (lf *localFile) bind(ctx context.Context) {
	name := lf.f.Name()
	lf.stop = context.AfterFunc(ctx, func() { _ = os.Remove(name) })
}

// writing holds the temporary files this process is writing: CleanTemp never
// opens them (where flock is emulated with POSIX locks, as on NFS, closing
// any descriptor of a file drops the process's lock on it).
var writing sync.Map // path → struct{}

// createLocked creates and locks a temporary file in dir. A CleanTemp may
// remove the file between the two steps, since it is not locked yet; then
// another one is created.
func createLocked(dir string) (*os.File, error) {
	for range 10 {
		f, err := os.CreateTemp(dir, ".*.part")
		if err != nil {
			return nil, fmt.Errorf("creating temporary file: %w", err)
		}
		writing.Store(f.Name(), struct{}{})
		// A filesystem without locks leaves CleanTemp to go by age.
		_ = lockWriter(f)
		open, err1 := f.Stat()
		named, err2 := os.Stat(f.Name())
		if err1 == nil && err2 == nil && os.SameFile(open, named) {
			return f, nil
		}
		writing.Delete(f.Name())
		f.Close()
	}
	return nil, errors.New("creating temporary file: removed by concurrent cleanups every time")
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

// CleanTemp removes the .part files of every cliente's temporary directory
// that no live writer holds: those whose lock it can take (their writer
// died, even by SIGKILL, or never locked them) and, where the filesystem
// offers no locks, those whose last write is older than olderThan. Files
// older than olderThan are removed in any case. Call it when a downloader
// starts and now and then; other processes may be writing into the same
// root, their files stay.
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
			if err != nil {
				continue // gone meanwhile
			}
			path := filepath.Join(dir, name)
			if !fi.ModTime().Before(cutoff) {
				if ok, err := removeOrphan(path); ok {
					removed++
				} else if err != nil {
					errs = append(errs, err)
				}
				continue
			}
			if err := os.Remove(path); err == nil {
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

// Leftovers lists the temporary files under every cliente's temporary
// directory, relative to the root: what writers in progress or killed left.
// A quiet store has none.
func (l *Local) Leftovers() ([]string, error) {
	parts, err := filepath.Glob(filepath.Join(l.root, "*", tmpDir, ".*.part"))
	if err != nil {
		return nil, err
	}
	for i, p := range parts {
		if rel, err := filepath.Rel(l.root, p); err == nil {
			parts[i] = filepath.ToSlash(rel)
		}
	}
	return parts, nil
}

// removeOrphan removes the temporary file at path when no writer holds its
// lock. It holds the lock itself while removing, so a writer that created
// the file and is about to lock it notices the removal (see createLocked).
func removeOrphan(path string) (bool, error) {
	if _, mine := writing.Load(path); mine {
		return false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, nil // committed or removed meanwhile
	}
	defer f.Close()
	if locked, _ := tryLock(f); !locked {
		return false, nil // a live writer, or no locks here: age decides
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// localFile is the backend of a Local Pending.
type localFile struct {
	root string
	f    *os.File
	// written and flushed count the bytes written and those handed to
	// writeback so far.
	written, flushed int64
	stop             func() bool // unregisters bind's AfterFunc
}

// writebackChunk is how many written bytes start an asynchronous writeback.
const writebackChunk = 8 << 20

func (lf *localFile) Write(b []byte) (int, error) {
	n, err := lf.f.Write(b)
	lf.written += int64(n)
	if lf.written-lf.flushed >= writebackChunk {
		startWriteback(lf.f, lf.flushed, lf.written-lf.flushed)
		lf.flushed = lf.written
	}
	return n, err
}

func (lf *localFile) abort() error {
	defer lf.close()
	if err := os.Remove(lf.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing temporary file: %w", err)
	}
	return nil
}

// close closes the file, which releases its lock: only once it was renamed
// into place or removed, so CleanTemp never sees it unlocked under .tmp.
func (lf *localFile) close() error {
	if lf.stop != nil {
		lf.stop()
	}
	writing.Delete(lf.f.Name())
	return lf.f.Close()
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
		_ = lf.close()
		return Stored{Path: rel, Size: size, ModTime: fi.ModTime(), Deduplicated: true}, nil
	}
	if err := os.Rename(tmp, final); err != nil {
		return Stored{}, err
	}
	if err := lf.close(); err != nil {
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
