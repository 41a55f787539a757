package metalog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/datdot/datdot/gateway/secret"
)

// BenchmarkGenKey measures deriving one generation's first core key, the
// unit of recovery's scan for the newest generation.
func BenchmarkGenKey(b *testing.B) {
	master := make([]byte, 32)
	for i := 0; i < b.N; i++ {
		if _, err := coreKey(master, secret.MetalogVolumeID(master, uint64(i)), 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpareKeys measures the keys the orphan sweep spares, as a
// compaction pass asks for them (generation 5 the highest, the gateway's
// margin of 1,024): "derive" derives them all each time, as every pass
// did before SpareKeys; "cached" is a pass after the first.
func BenchmarkSpareKeys(b *testing.B) {
	master := make([]byte, 32)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "highest"), uintLine(5), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Run("derive", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := NewSpareKeys(master, dir, 1024).Keys(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		s := NewSpareKeys(master, dir, 1024)
		if _, err := s.Keys(); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Keys(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
