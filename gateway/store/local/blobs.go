// Package local is the single-machine storage of the gateway: metadata in a
// bbolt database (fsynced on every commit) and object data in files, except
// small blobs, whose bytes the database holds (Blobs.InlineMax).
package local

import (
	"bytes"
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
	"time"

	"github.com/datdot/datdot/gateway/store"
)

// Blobs stores each blob as a file under dir/blobs/xx/ (xx = first two hex
// digits of its id). A blob is written to dir/tmp, fsynced, recorded as
// pending in the journal (the metadata's delete queue), renamed into place
// and its directory fsynced before Commit returns. So a crash leaves either
// a temp file (tmp is emptied at open) or a queued blob, which the reaper
// deletes once due unless a metadata commit referenced it.
//
// A blob of at most InlineMax bytes is not a file: its bytes go into the
// metadata database in the commit that first references it (Meta.addRefs),
// so a small PUT costs one fsync'ed commit instead of a file fsync, a
// pending record's commit, a directory fsync and the metadata commit.
type Blobs struct {
	dir     string
	journal Journal
	inline  InlineStore
	// PendingWindow is how long a committed blob may stay unreferenced
	// before the reaper may delete it (default DefaultPendingWindow).
	PendingWindow time.Duration
	// InlineMax is the largest blob kept in the metadata database
	// (DefaultInlineMax; 0 or a journal that is not an InlineStore: none).
	InlineMax int
}

// InlineStore holds the bytes of inline blobs (Meta implements it).
type InlineStore interface {
	InlineData(ctx context.Context, id string) ([]byte, error)
	DeleteInline(ctx context.Context, ids []string) error
}

// DefaultInlineMax is the default of Blobs.InlineMax.
const DefaultInlineMax = 16 << 10

// Journal records committed blobs as pending (store.MetaStore.AddPending).
type Journal interface {
	AddPending(ctx context.Context, refs []store.BlobRef, due time.Time) error
}

// DefaultPendingWindow is how long a written blob may wait for the
// metadata commit that references it.
const DefaultPendingWindow = time.Hour

// OpenBlobs opens (creating if needed) a blob directory and empties its tmp
// directory, which only holds writes that a crash interrupted. journal
// records new blobs as pending; with nil, a crash between a blob's commit
// and its metadata's leaves an orphan file.
//
// All 256 fan-out directories are created here and their parents fsynced,
// so that Commit never makes a directory: a directory made by Commit would
// need its parent fsynced too, or a crash could drop the directory entry,
// and with it a blob whose metadata had already committed.
func OpenBlobs(dir string, journal Journal) (*Blobs, error) {
	b := &Blobs{dir: dir, journal: journal, PendingWindow: DefaultPendingWindow}
	if is, ok := journal.(InlineStore); ok {
		b.inline, b.InlineMax = is, DefaultInlineMax
	}
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

// Create implements store.BlobStore. The file is made only once the blob
// outgrows InlineMax.
func (b *Blobs) Create(ctx context.Context) (store.BlobWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &blobWriter{b: b}
	if b.inline == nil || b.InlineMax <= 0 {
		if err := w.spill(); err != nil {
			return nil, err
		}
	}
	return w, nil
}

type blobWriter struct {
	b    *Blobs
	f    *os.File // nil while the bytes fit in buf
	buf  []byte
	n    int64
	done bool
}

// spill moves the blob from memory to a temp file.
func (w *blobWriter) spill() error {
	f, err := os.CreateTemp(w.b.tmpDir(), "put-*")
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	w.f = f
	if len(w.buf) > 0 {
		if _, err := f.Write(w.buf); err != nil {
			return fmt.Errorf("local: write blob: %w", err)
		}
	}
	w.buf = nil
	return nil
}

func (w *blobWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("local: write to a finished blob")
	}
	if w.f == nil {
		if len(w.buf)+len(p) <= w.b.InlineMax {
			w.buf = append(w.buf, p...)
			w.n += int64(len(p))
			return len(p), nil
		}
		if err := w.spill(); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("local: write blob: %w", err)
	}
	return n, nil
}

func (w *blobWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.buf = nil
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
	}
}

func (w *blobWriter) Commit(ctx context.Context) (ref store.BlobRef, err error) {
	if w.done {
		return ref, errors.New("local: commit of a finished blob")
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	if w.f == nil {
		// Inline: the metadata commit that references it stores it.
		w.done = true
		data := w.buf
		if data == nil {
			data = []byte{}
		}
		return store.BlobRef{ID: newID(), Size: w.n, Inline: true, Data: data}, nil
	}
	if err = w.f.Sync(); err != nil {
		return ref, fmt.Errorf("local: sync blob: %w", err)
	}
	if err = w.f.Close(); err != nil {
		return ref, fmt.Errorf("local: close blob: %w", err)
	}
	ref = store.BlobRef{ID: newID(), Size: w.n}
	if w.b.journal != nil {
		if err = w.b.journal.AddPending(ctx, []store.BlobRef{ref}, time.Now().Add(w.b.PendingWindow)); err != nil {
			return ref, fmt.Errorf("local: record pending blob: %w", err)
		}
	}
	dst, _ := w.b.path(ref.ID)
	if err = os.Rename(w.f.Name(), dst); err != nil {
		return ref, fmt.Errorf("local: %w", err)
	}
	w.done = true
	if err = syncDir(filepath.Dir(dst)); err != nil {
		os.Remove(dst)
		return ref, err
	}
	return ref, nil
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

// inlineData returns the bytes of an inline blob.
func (b *Blobs) inlineData(ctx context.Context, ref store.BlobRef) ([]byte, error) {
	if b.inline == nil {
		return nil, fmt.Errorf("local: inline blob %s without a metadata store", ref.ID)
	}
	if ref.Data != nil {
		return ref.Data, nil
	}
	return b.inline.InlineData(ctx, ref.ID)
}

// Open implements store.BlobStore.
func (b *Blobs) Open(ctx context.Context, ref store.BlobRef, offset, length int64) (io.ReadCloser, error) {
	if ref.Inline {
		data, err := b.inlineData(ctx, ref)
		if err != nil {
			return nil, err
		}
		if offset < 0 || offset > int64(len(data)) {
			return nil, fmt.Errorf("local: blob %s has %d bytes, read at %d: %w", ref.ID, len(data), offset, store.ErrDataShort)
		}
		return io.NopCloser(bytes.NewReader(data[offset:min(int64(len(data)), offset+length)])), nil
	}
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
func (b *Blobs) Delete(ctx context.Context, refs ...store.BlobRef) error {
	var errs []error
	var inline []string
	for _, ref := range refs {
		if ref.Inline {
			inline = append(inline, ref.ID)
			continue
		}
		p, err := b.path(ref.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("local: %w", err))
		}
	}
	if len(inline) > 0 && b.inline != nil {
		if err := b.inline.DeleteInline(ctx, inline); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CheckBlob implements store.BlobChecker: the blob's file must exist and
// hold at least the bytes ref records.
func (b *Blobs) CheckBlob(ctx context.Context, ref store.BlobRef) error {
	want := ref.Size
	if ref.Stored > 0 {
		want = ref.Stored
	}
	if ref.Inline {
		data, err := b.inlineData(ctx, ref)
		if err != nil {
			return err
		}
		if int64(len(data)) < want {
			return fmt.Errorf("local: blob %s has %d of %d bytes: %w", ref.ID, len(data), want, store.ErrDataShort)
		}
		return nil
	}
	p, err := b.path(ref.ID)
	if err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("local: blob %s is missing: %w", ref.ID, store.ErrDataShort)
		}
		return fmt.Errorf("local: %w", err)
	}
	if fi.Size() < want {
		return fmt.Errorf("local: blob %s has %d of %d bytes: %w", ref.ID, fi.Size(), want, store.ErrDataShort)
	}
	return nil
}
