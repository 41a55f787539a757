// Package durable writes small files so that a crash leaves either the old
// content or the new one, never a torn file: write to a temporary file,
// fsync it, rename it over the target, fsync the directory.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data durably.
func WriteFile(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("durable: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Remove deletes path durably (the directory is fsynced); a missing file
// is not an error.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("durable: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// Rename moves from to to (replacing to) durably: the directory is
// fsynced. Both must be in one directory.
func Rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	return syncDir(filepath.Dir(to))
}

// syncDir fsyncs directory dir, so that the entries changed in it last.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	return nil
}
