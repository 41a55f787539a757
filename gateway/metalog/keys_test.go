package metalog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/datdot/datdot/gateway/secret"
)

// TestGenerationKeys: the keys spared are those of every generation up
// to the highest recorded plus the margin, and no other volume's.
func TestGenerationKeys(t *testing.T) {
	master := bytes.Repeat([]byte{9}, 32)
	dir := t.TempDir()
	key := func(g uint64) [32]byte {
		k, err := coreKey(master, secret.MetalogVolumeID(master, g), 0)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keys, err := GenerationKeys(master, dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 || !keys[key(0)] || !keys[key(4)] || keys[key(5)] {
		t.Fatalf("with no generation recorded: %d keys, want generations 0 to 4", len(keys))
	}
	if err := os.WriteFile(filepath.Join(dir, "highest"), uintLine(10), 0o600); err != nil {
		t.Fatal(err)
	}
	if keys, err = GenerationKeys(master, dir, 4); err != nil {
		t.Fatal(err)
	}
	other, err := coreKey(master, []byte("some data volume"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 15 || !keys[key(10)] || !keys[key(14)] || keys[key(15)] || keys[other] {
		t.Fatalf("with generation 10 the highest: %d keys, want generations 0 to 14 only", len(keys))
	}
}

// TestSpareKeysDerivedOnce: a SpareKeys asked at two compaction passes
// derives each generation's key once: the second pass derives none, a
// pass after the log reached a higher generation only the new ones; the
// answers equal GenerationKeys'.
func TestSpareKeysDerivedOnce(t *testing.T) {
	master := bytes.Repeat([]byte{7}, 32)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "highest"), uintLine(10), 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewSpareKeys(master, dir, 4)
	pass := func(what string, derived int, highest uint64) {
		t.Helper()
		got, err := s.Keys()
		if err != nil {
			t.Fatal(err)
		}
		want, err := GenerationKeys(master, dir, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != int(highest)+5 || len(got) != len(want) {
			t.Fatalf("%s: %d keys, want %d", what, len(got), highest+5)
		}
		for k := range want {
			if !got[k] {
				t.Fatalf("%s: a generation's key is missing", what)
			}
		}
		if s.derived != derived {
			t.Fatalf("%s: %d keys derived in all, want %d", what, s.derived, derived)
		}
	}
	pass("first pass", 15, 10)
	pass("second pass", 15, 10)
	if err := os.WriteFile(filepath.Join(dir, "highest"), uintLine(12), 0o600); err != nil {
		t.Fatal(err)
	}
	pass("after generation 12", 17, 12)
}
