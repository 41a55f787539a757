package volume

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestShortBlockSize(t *testing.T) {
	l := Layout{K: 4, M: 2}
	for _, c := range []struct {
		used int64
		want int
	}{
		{1, 64}, {256, 64}, {257, 128}, {20 << 10, 5 << 10}, {20<<10 + 1, 5<<10 + 64},
		{l.StripeSize() - 1, BlockSize}, {l.StripeSize() - 4*64, BlockSize - 64}, {l.StripeSize(), BlockSize},
	} {
		if got := l.ShortBlockSize(c.used); got != c.want {
			t.Errorf("ShortBlockSize(%d) = %d, want %d", c.used, got, c.want)
		}
	}
	for _, b := range []int{0, -64, 100, BlockSize + 64, 2 * BlockSize} {
		if ValidBlockSize(b) {
			t.Errorf("ValidBlockSize(%d)", b)
		}
	}
}

// LocateIn of a short stripe cuts its k·b bytes into k blocks of b; its
// hole (the rest of the stripe's address range) is no block; with
// BlockSize it equals Locate.
func TestLocateIn(t *testing.T) {
	l := Layout{K: 3, M: 2}
	ss := l.StripeSize()
	cases := []struct {
		off  int64
		b    int
		want Pos
	}{
		{2 * ss, 128, Pos{2, 0, 0}},
		{2*ss + 127, 128, Pos{2, 0, 127}},
		{2*ss + 128, 128, Pos{2, 1, 0}},
		{2*ss + 3*128 - 1, 128, Pos{2, 2, 127}},
	}
	for _, c := range cases {
		got, err := l.LocateIn(c.off, c.b)
		if err != nil || got != c.want {
			t.Errorf("LocateIn(%d, %d) = %+v, %v; want %+v", c.off, c.b, got, err, c.want)
		}
	}
	if _, err := l.LocateIn(2*ss+3*128, 128); err == nil {
		t.Error("an offset in the hole of a short stripe located")
	}
	if _, err := l.LocateIn(0, 100); err == nil {
		t.Error("block size 100 accepted")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100 {
		off := rng.Int64N(10 * ss)
		got, err := l.LocateIn(off, BlockSize)
		if err != nil || got != l.Locate(off) {
			t.Fatalf("LocateIn(%d, B) = %+v, %v; Locate %+v", off, got, err, l.Locate(off))
		}
	}
}

// A short stripe: every shard b bytes, data shard i the stream bytes
// [i·b, (i+1)·b), any k shards give every other back, and a stripe
// whose shards differ in length is refused.
func TestShortStripeCode(t *testing.T) {
	l := Layout{K: 4, M: 2}
	c, err := NewCoder(l)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, used := range []int{1, 63, 64, 1000, 20 << 10, 100000, int(l.StripeSize()) - 300} {
		data := make([]byte, used)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		shards, err := c.EncodeShort(data)
		if err != nil {
			t.Fatal(err)
		}
		b := l.ShortBlockSize(int64(used))
		for j, s := range shards {
			if len(s) != b || cap(s) != b {
				t.Fatalf("used %d: shard %d is %d bytes (cap %d), want %d", used, j, len(s), cap(s), b)
			}
		}
		var joined []byte
		for _, s := range shards[:l.K] {
			joined = append(joined, s...)
		}
		if !bytes.Equal(joined[:used], data) || bytes.Count(joined[used:], []byte{0}) != len(joined)-used {
			t.Fatalf("used %d: data shards are not the stream cut in %d-byte pieces", used, b)
		}
		// Every byte is where LocateIn says.
		for _, off := range []int{0, used / 2, used - 1} {
			p, err := l.LocateIn(int64(off), b)
			if err != nil || shards[p.Shard][p.Offset] != data[off] {
				t.Fatalf("used %d: byte %d not at %+v (%v)", used, off, p, err)
			}
		}
		for a := 0; a < l.N(); a++ {
			for z := a + 1; z < l.N(); z++ {
				sh := make([][]byte, l.N())
				for j := range sh {
					if j != a && j != z {
						sh[j] = bytes.Clone(shards[j])
					}
				}
				got, err := c.ReconstructShard(sh, a)
				if err != nil || !bytes.Equal(got, shards[a]) {
					t.Fatalf("used %d: ReconstructShard(lost %d,%d): %v", used, a, z, err)
				}
				sh[z] = nil
				if err := c.ReconstructData(sh); err != nil {
					t.Fatal(err)
				}
				for j := range l.K {
					if !bytes.Equal(sh[j], shards[j]) {
						t.Fatalf("used %d: data shard %d wrong after ReconstructData", used, j)
					}
				}
			}
		}
		if ok, err := c.Verify(shards); err != nil || !ok {
			t.Fatalf("Verify: %v %v", ok, err)
		}
	}
	// Unequal lengths: a full block beside short ones, or two short sizes.
	short, _ := c.EncodeShort(make([]byte, 5000))
	full, _ := c.EncodeStripe(make([]byte, 5000))
	mixed := [][]byte{short[0], full[1], short[2], short[3], nil, nil}
	if _, err := c.ReconstructShard(mixed, 4); !errors.Is(err, ErrShardSize) {
		t.Fatalf("mixed block sizes: %v, want ErrShardSize", err)
	}
	other, _ := c.EncodeShort(make([]byte, 9000))
	mixed = [][]byte{nil, short[1], short[2], other[3], short[4], nil}
	if err := c.ReconstructData(mixed); !errors.Is(err, ErrShardSize) {
		t.Fatalf("two short sizes: %v, want ErrShardSize", err)
	}
	if _, err := c.EncodeShort(nil); err == nil {
		t.Fatal("empty short stripe encoded")
	}
}

// FlushShort emits the same stripe as EncodeShort of the buffered bytes
// (whatever the recycled blocks held), returns the full-size blocks it
// copied out of, and the next write starts the next stripe.
func TestFlushShort(t *testing.T) {
	l := Layout{K: 4, M: 2}
	c, _ := NewCoder(l)
	var got [][][]byte
	var idx []uint64
	enc := c.NewStreamEncoder(7, func(s uint64, shards [][]byte) error {
		got = append(got, shards)
		idx = append(idx, s)
		return nil
	})
	enc.SetAlloc(func() []byte { return bytes.Repeat([]byte{0xAA}, BlockSize) })
	freed := 0
	enc.SetFree(func(b []byte) {
		if len(b) != BlockSize {
			t.Errorf("freed a block of %d bytes", len(b))
		}
		freed++
	})
	if b, err := enc.FlushShort(); err != nil || b != 0 || len(got) != 0 {
		t.Fatalf("FlushShort of nothing: %d, %v, %d stripes", b, err, len(got))
	}
	a := make([]byte, BlockSize+777) // spans two blocks of the stripe being filled
	for i := range a {
		a[i] = byte(i*13 + 5)
	}
	enc.Write(a)
	b, err := enc.FlushShort()
	if err != nil || b != l.ShortBlockSize(int64(len(a))) {
		t.Fatalf("FlushShort: %d, %v", b, err)
	}
	if freed != l.N() {
		t.Fatalf("%d blocks freed, want %d", freed, l.N())
	}
	want, _ := c.EncodeShort(a)
	for j := range want {
		if !bytes.Equal(got[0][j], want[j]) {
			t.Fatalf("shard %d differs from EncodeShort", j)
		}
	}
	// A nearly full stripe is padded to full size instead.
	full := make([]byte, l.StripeSize()-10)
	enc.Write(full)
	if b, err := enc.FlushShort(); err != nil || b != BlockSize || len(got[1][0]) != BlockSize {
		t.Fatalf("nearly full stripe: block size %d, %v", b, err)
	}
	enc.Write([]byte{9})
	if b, err := enc.FlushShort(); err != nil || b != ShortAlign {
		t.Fatalf("one byte: block size %d, %v", b, err)
	}
	if len(idx) != 3 || idx[0] != 7 || idx[1] != 8 || idx[2] != 9 || enc.Next() != 10 {
		t.Fatalf("stripes %v, next %d", idx, enc.Next())
	}
	if got[2][0][0] != 9 || bytes.Count(got[2][0], []byte{0}) != ShortAlign-1 {
		t.Fatal("one-byte stripe: data shard 0 is not the byte, zero padded")
	}
}
