package durable

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	for _, s := range []string{"one\n", "two\n"} {
		if err := WriteFile(p, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != s {
			t.Fatalf("read %q %v, want %q", b, err, s)
		}
	}
	if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "missing", "f"), []byte("x")); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestRemove(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(p, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time the file is already gone: not an error
		if err := Remove(p); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("file still there: %v", err)
		}
	}
	if err := Remove(filepath.Join(t.TempDir(), "missing", "f")); err == nil {
		t.Fatal("remove in a missing directory succeeded")
	}
}

func TestRename(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for i, s := range []string{"one\n", "two\n"} { // the second replaces the first
		if err := WriteFile(from, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if err := Rename(from, to); err != nil {
			t.Fatalf("rename %d: %v", i, err)
		}
		if b, err := os.ReadFile(to); err != nil || string(b) != s {
			t.Fatalf("read %q %v, want %q", b, err, s)
		}
		if _, err := os.Stat(from); !os.IsNotExist(err) {
			t.Fatalf("source still there: %v", err)
		}
	}
	if err := Rename(from, to); err == nil {
		t.Fatal("rename of a missing file succeeded")
	}
}
