package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// ErrMetaLost is returned by Open when the data directory holds blob files
// but its metadata database is missing or empty: meta.db was lost, or
// --data names the wrong directory, or an empty meta.db was put in place.
// Serving from it would show an empty store, and every write would build
// on metadata that does not know the data, so Open refuses instead of
// starting (nothing is deleted either way: no walk over the blobs ever
// deletes a blob the metadata does not know).
var ErrMetaLost = errors.New("local: the data directory holds blobs but its metadata (meta.db) is missing or empty")

// hasBlobFiles reports whether any blob file is under dir/blobs.
func hasBlobFiles(dir string) (bool, error) {
	root := filepath.Join(dir, "blobs")
	subs, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("local: %w", err)
	}
	for _, s := range subs {
		if !s.IsDir() {
			continue
		}
		f, err := os.Open(filepath.Join(root, s.Name()))
		if err != nil {
			return false, fmt.Errorf("local: %w", err)
		}
		names, err := f.Readdirnames(1)
		f.Close()
		if len(names) > 0 {
			return true, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("local: %w", err)
		}
	}
	return false, nil
}

// metaEmpty reports whether the metadata knows no bucket, no blob and no
// queued blob.
func (m *Meta) metaEmpty() (bool, error) {
	empty := true
	err := m.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bBuckets, bBlobRefs, bQueue, bDeleting} {
			if k, _ := tx.Bucket(name).Cursor().First(); k != nil {
				empty = false
			}
		}
		return nil
	})
	return empty, err
}

// checkMeta refuses a metadata database that knows nothing beside blob
// files that exist.
func checkMeta(dir string, meta *Meta) error {
	empty, err := meta.metaEmpty()
	if err != nil || !empty {
		return err
	}
	has, err := hasBlobFiles(dir)
	if err != nil {
		return err
	}
	if has {
		return fmt.Errorf("%w: %s; restore meta.db from a backup, or point --data at the right directory (move blobs/ aside to start empty)", ErrMetaLost, dir)
	}
	return nil
}
