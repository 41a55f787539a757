package local

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// Open opens the local store in dir (meta.db and blob files), creating it
// if needed. Blobs that a crash left unreferenced are on the metadata's
// delete queue; a store.Reaper deletes them. A directory with blob files
// but an empty or missing meta.db is refused with ErrMetaLost.
func Open(ctx context.Context, dir string, log *slog.Logger) (*Meta, *Blobs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("local: %w", err)
	}
	meta, err := OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		return nil, nil, err
	}
	if err := checkMeta(dir, meta); err != nil {
		meta.Close()
		return nil, nil, err
	}
	blobs, err := OpenBlobs(dir, meta)
	if err != nil {
		meta.Close()
		return nil, nil, err
	}
	return meta, blobs, nil
}
