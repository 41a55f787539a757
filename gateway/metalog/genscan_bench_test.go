package metalog

import (
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
