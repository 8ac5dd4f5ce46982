package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Lister is a store that can enumerate its stored files; Local and S3 are.
type Lister interface {
	// Files yields every stored file of the cliente (0: of every cliente)
	// with its size, in no particular order, and stops at the first error,
	// which it yields last. Temporaries, pending uploads and anything whose
	// path Key could not have built are left out.
	Files(ctx context.Context, clienteID int64) iter.Seq2[Stored, error]
}

var (
	_ Lister = (*Local)(nil)
	_ Lister = (*S3)(nil)
)

// AsLister returns the Lister behind s (through Observe's wrapper), or
// false when the store cannot list its files.
func AsLister(s Store) (Lister, bool) {
	for {
		if l, ok := s.(Lister); ok {
			return l, true
		}
		u, ok := s.(interface{ Unwrap() Store })
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
}

// Usage counts the stored files of the cliente (0: of every cliente) and
// their bytes, from the store itself rather than the catalogue: a file no
// row refers to counts too.
func Usage(ctx context.Context, s Store, clienteID int64) (files, bytes int64, err error) {
	l, ok := AsLister(s)
	if !ok {
		return 0, 0, errors.New("media store usage: this store cannot list its files")
	}
	for st, err := range l.Files(ctx, clienteID) {
		if err != nil {
			return files, bytes, err
		}
		files++
		bytes += st.Size
	}
	return files, bytes, nil
}

// Files walks the root (or the cliente's directory) in lexical order.
func (l *Local) Files(ctx context.Context, clienteID int64) iter.Seq2[Stored, error] {
	return func(yield func(Stored, error) bool) {
		root := l.root
		if clienteID != 0 {
			if err := checkCliente(clienteID); err != nil {
				yield(Stored{}, err)
				return
			}
			root = filepath.Join(l.root, strconv.FormatInt(clienteID, 10))
		}
		stop := errors.New("stop")
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == root && errors.Is(err, fs.ErrNotExist) {
					return nil // a cliente with nothing stored
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == tmpDir {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(l.root, p)
			if err != nil {
				return nil
			}
			rel = filepath.ToSlash(rel)
			if CheckPath(rel) != nil {
				return nil
			}
			fi, err := d.Info()
			if errors.Is(err, os.ErrNotExist) {
				return nil // removed meanwhile
			}
			if err != nil {
				return err
			}
			if !yield(Stored{Path: rel, Size: fi.Size(), ModTime: fi.ModTime()}, nil) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			yield(Stored{}, fmt.Errorf("listing the media directory: %w", err))
		}
	}
}

// Files lists the objects under the prefix (or the cliente's part of it)
// one page at a time, in key order.
func (s *S3) Files(ctx context.Context, clienteID int64) iter.Seq2[Stored, error] {
	return func(yield func(Stored, error) bool) {
		prefix := s.prefix
		if clienteID != 0 {
			if err := checkCliente(clienteID); err != nil {
				yield(Stored{}, err)
				return
			}
			prefix += strconv.FormatInt(clienteID, 10) + "/"
		}
		p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				yield(Stored{}, fmt.Errorf("listing s3://%s/%s: %w", s.bucket, prefix, err))
				return
			}
			for _, o := range out.Contents {
				rel := aws.ToString(o.Key)[len(s.prefix):]
				if CheckPath(rel) != nil {
					continue
				}
				if !yield(Stored{Path: rel, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}, nil) {
					return
				}
			}
		}
	}
}
