package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MinMasterKeySize is the shortest master secret accepted (bytes).
const MinMasterKeySize = 32

// LoadMasterKey reads the master secret from path: hex digits, whitespace
// ignored. If the file does not exist and create is set, a new random
// 32-byte secret is written there (mode 0600, fsynced) and created is true.
func LoadMasterKey(path string, create bool) (key []byte, created bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		key = make([]byte, MinMasterKeySize)
		rand.Read(key)
		if err := writeNew(path, []byte(hex.EncodeToString(key)+"\n")); err != nil {
			return nil, false, err
		}
		return key, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("config: master key: %w", err)
	}
	key, err = hex.DecodeString(strings.Join(strings.Fields(string(data)), ""))
	if err != nil {
		return nil, false, fmt.Errorf("config: master key %s is not hex: %w", path, err)
	}
	if len(key) < MinMasterKeySize {
		return nil, false, fmt.Errorf("config: master key %s has %d bytes, want at least %d", path, len(key), MinMasterKeySize)
	}
	return key, false, nil
}

func writeNew(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("config: create master key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("config: write master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("config: sync master key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
