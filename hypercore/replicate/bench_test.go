package replicate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/datdot/datdot/hypercore"
)

// BenchmarkFetch measures Go → Go replication over loopback TCP of a
// 64 MiB core in 64 KiB blocks (server on disk, copy in memory).
func BenchmarkFetch(b *testing.B) {
	const size = 64 << 20
	ctx := context.Background()
	st, err := hypercore.OpenFileStorage(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	src, err := hypercore.Create(ctx, st, priv, false)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, size)
	rand.Read(buf)
	for off := 0; off < size; off += 64 << 20 {
		var blocks [][]byte
		for i := off; i < off+64<<20 && i < size; i += 64 << 10 {
			blocks = append(blocks, buf[i:i+64<<10])
		}
		if _, err := src.Append(ctx, blocks...); err != nil {
			b.Fatal(err)
		}
	}
	s := serve(b, src)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		res, err := Dial(ctx, s.addr, src.Key(), hypercore.NewMemStorage(), FetchOptions{SpoolDir: b.TempDir()})
		cancel()
		if err != nil || res.Bytes != size {
			b.Fatalf("%+v %v", res, err)
		}
	}
}
