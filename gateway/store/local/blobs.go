// Package local is the single-machine storage of the gateway: metadata in a
// bbolt database (fsynced on every commit) and object data in files.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/datdot/datdot/gateway/store"
)

// Blobs stores each blob as a file under dir/blobs/xx/ (xx = first two hex
// digits of its id). A blob is written to dir/tmp, fsynced, renamed into
// place and its directory fsynced before Create returns.
type Blobs struct {
	dir string
}

// OpenBlobs opens (creating if needed) a blob directory and empties its tmp
// directory, which only holds writes that a crash interrupted.
//
// All 256 fan-out directories are created here and their parents fsynced,
// so that Create never makes a directory: a directory made by Create would
// need its parent fsynced too, or a crash could drop the directory entry,
// and with it a blob whose metadata had already committed.
func OpenBlobs(dir string) (*Blobs, error) {
	b := &Blobs{dir: dir}
	if err := os.RemoveAll(b.tmpDir()); err != nil {
		return nil, fmt.Errorf("local: clear tmp: %w", err)
	}
	root := filepath.Join(dir, "blobs")
	for _, d := range []string{b.tmpDir(), root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("local: %w", err)
		}
	}
	for i := range 256 {
		if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("%02x", i)), 0o755); err != nil {
			return nil, fmt.Errorf("local: %w", err)
		}
	}
	// dir also holds meta.db, created just before by Open.
	for _, d := range []string{root, dir} {
		if err := syncDir(d); err != nil {
			return nil, err
		}
	}
	// The entry of dir itself, if MkdirAll just made it; best effort, as
	// the parent may not be ours to open.
	_ = syncDir(filepath.Dir(dir))
	return b, nil
}

func (b *Blobs) tmpDir() string { return filepath.Join(b.dir, "tmp") }

func (b *Blobs) path(id string) (string, error) {
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", fmt.Errorf("local: bad blob id %q", id)
	}
	return filepath.Join(b.dir, "blobs", id[:2], id), nil
}

func newID() string {
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(buf[:])
}

// ctxReader stops a copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Create implements store.BlobStore.
func (b *Blobs) Create(ctx context.Context, r io.Reader, size int64) (ref store.BlobRef, err error) {
	f, err := os.CreateTemp(b.tmpDir(), "put-*")
	if err != nil {
		return ref, fmt.Errorf("local: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	src := io.Reader(ctxReader{ctx, r})
	if size >= 0 {
		src = io.LimitReader(src, size+1)
	}
	buf := make([]byte, 256<<10)
	n, err := io.CopyBuffer(f, src, buf)
	if err != nil {
		return ref, fmt.Errorf("local: write blob: %w", err)
	}
	if size >= 0 && n != size {
		return ref, store.ErrSizeMismatch
	}
	if err = f.Sync(); err != nil {
		return ref, fmt.Errorf("local: sync blob: %w", err)
	}
	if err = f.Close(); err != nil {
		return ref, fmt.Errorf("local: close blob: %w", err)
	}
	id := newID()
	dst, _ := b.path(id)
	if err = os.Rename(tmp, dst); err != nil {
		return ref, fmt.Errorf("local: %w", err)
	}
	if err = syncDir(filepath.Dir(dst)); err != nil {
		os.Remove(dst)
		return ref, err
	}
	return store.BlobRef{ID: id, Size: n}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("local: sync dir: %w", err)
	}
	return nil
}

type sectionFile struct {
	io.Reader
	f *os.File
}

func (s sectionFile) Close() error { return s.f.Close() }

// Open implements store.BlobStore.
func (b *Blobs) Open(_ context.Context, ref store.BlobRef, offset, length int64) (io.ReadCloser, error) {
	p, err := b.path(ref.ID)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("local: open blob: %w", err)
	}
	return sectionFile{Reader: io.NewSectionReader(f, offset, length), f: f}, nil
}

// Delete implements store.BlobStore.
func (b *Blobs) Delete(_ context.Context, refs ...store.BlobRef) error {
	var errs []error
	for _, ref := range refs {
		p, err := b.path(ref.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("local: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Walk implements store.BlobStore.
func (b *Blobs) Walk(ctx context.Context, fn func(id string) error) error {
	root := filepath.Join(b.dir, "blobs")
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if _, perr := b.path(d.Name()); perr != nil {
			return nil // not ours
		}
		return fn(d.Name())
	})
}
