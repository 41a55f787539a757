package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/datdot/datdot/hypercore"
)

// TestCoreNewKeyFile: `core new` leaves a complete, private key file and a
// writable core; a second `new` and a `new` over a core made with another
// key fail and leave no key file of their own.
func TestCoreNewKeyFile(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "core")
	if err := coreNew(ctx, []string{"--dir", dir}); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, coreKeyFile)
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	if _, err := os.Stat(keyPath + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary key file left: %v", err)
	}
	before, _ := os.ReadFile(keyPath)
	c, err := openCore(ctx, dir)
	if err != nil || !c.Writable() {
		t.Fatalf("core is not writable with its key file: %v", err)
	}
	c.Close()
	if err := coreNew(ctx, []string{"--dir", dir}); err == nil {
		t.Fatal("second new succeeded")
	}
	if after, _ := os.ReadFile(keyPath); string(after) != string(before) {
		t.Fatal("second new changed the key file")
	}

	// A directory holding a core but no key file: new must fail and
	// must not leave a key that does not belong to the core.
	other := t.TempDir()
	st, err := hypercore.OpenFileStorage(other)
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	oc, err := hypercore.Create(ctx, st, priv, false)
	if err != nil {
		t.Fatal(err)
	}
	oc.Close()
	if err := coreNew(ctx, []string{"--dir", other}); !errors.Is(err, hypercore.ErrExists) {
		t.Fatalf("new over an existing core: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, coreKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("new over an existing core left a key file: %v", err)
	}

	// A key that cannot be stored (here: a dangling link in its place)
	// must fail new before a core exists that nobody could write to.
	broken := t.TempDir()
	if err := os.Symlink(filepath.Join(broken, "missing", "key"), filepath.Join(broken, coreKeyFile)); err != nil {
		t.Fatal(err)
	}
	if err := coreNew(ctx, []string{"--dir", broken}); err == nil {
		t.Fatal("new with an unwritable key file succeeded")
	}
	st, err = hypercore.OpenFileStorage(broken)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := hypercore.Open(ctx, st, nil); !errors.Is(err, hypercore.ErrNoCore) {
		t.Fatalf("new left a core without its key: %v", err)
	}
}
