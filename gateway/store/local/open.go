package local

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/datdot/datdot/gateway/store"
)

// Open opens the local store in dir (meta.db and blob files), creating it if
// needed, and removes blobs left unreferenced by an earlier crash.
func Open(ctx context.Context, dir string, log *slog.Logger) (*Meta, *Blobs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("local: %w", err)
	}
	meta, err := OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		return nil, nil, err
	}
	blobs, err := OpenBlobs(dir)
	if err != nil {
		meta.Close()
		return nil, nil, err
	}
	n, err := store.Sweep(ctx, meta, blobs)
	if err != nil {
		meta.Close()
		return nil, nil, fmt.Errorf("local: sweep: %w", err)
	}
	if n > 0 && log != nil {
		log.Info("removed unreferenced blobs", "count", n, "dir", dir)
	}
	return meta, blobs, nil
}
