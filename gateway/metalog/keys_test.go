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
