package volume

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestLayoutValidate(t *testing.T) {
	for _, l := range []Layout{{0, 1}, {-1, 2}, {2, -1}, {200, 57}} {
		if err := l.Validate(); !errors.Is(err, ErrLayout) {
			t.Errorf("%+v: %v, want ErrLayout", l, err)
		}
		if _, err := NewCoder(l); !errors.Is(err, ErrLayout) {
			t.Errorf("NewCoder %+v: %v, want ErrLayout", l, err)
		}
	}
	for _, l := range []Layout{{1, 0}, {4, 2}, {200, 56}} {
		if err := l.Validate(); err != nil {
			t.Errorf("%+v: %v", l, err)
		}
	}
}

func TestLocateAndPieces(t *testing.T) {
	l := Layout{K: 3, M: 2}
	ss := l.StripeSize()
	cases := []struct {
		off  int64
		want Pos
	}{
		{0, Pos{0, 0, 0}},
		{BlockSize - 1, Pos{0, 0, BlockSize - 1}},
		{BlockSize, Pos{0, 1, 0}},
		{2*BlockSize + 5, Pos{0, 2, 5}},
		{ss, Pos{1, 0, 0}},
		{5*ss + BlockSize + 7, Pos{5, 1, 7}},
	}
	for _, c := range cases {
		if got := l.Locate(c.off); got != c.want {
			t.Errorf("Locate(%d) = %+v, want %+v", c.off, got, c.want)
		}
	}
	if got := l.Stripes(0); got != 0 {
		t.Errorf("Stripes(0) = %d", got)
	}
	if got := l.Stripes(ss); got != 1 {
		t.Errorf("Stripes(ss) = %d", got)
	}
	if got := l.Stripes(ss + 1); got != 2 {
		t.Errorf("Stripes(ss+1) = %d", got)
	}
	// Pieces cover the range exactly, in order, each within one block.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		off := rng.Int64N(4 * ss)
		n := rng.Int64N(2 * ss)
		ps := l.Pieces(off, n)
		at, total := off, int64(0)
		for _, p := range ps {
			if p.StreamOffset != at || p.Len <= 0 || p.Offset+p.Len > BlockSize || p.Shard >= l.K {
				t.Fatalf("Pieces(%d,%d): bad piece %+v at %d", off, n, p, at)
			}
			if l.Locate(at) != p.Pos {
				t.Fatalf("piece %+v does not start at Locate(%d)", p, at)
			}
			at += int64(p.Len)
			total += int64(p.Len)
		}
		if total != n {
			t.Fatalf("Pieces(%d,%d) covers %d bytes", off, n, total)
		}
		first, end := l.StripeRange(off, n)
		if n > 0 && (first != ps[0].Stripe || end != ps[len(ps)-1].Stripe+1) {
			t.Fatalf("StripeRange(%d,%d) = %d,%d; pieces %d..%d", off, n, first, end, ps[0].Stripe, ps[len(ps)-1].Stripe)
		}
	}
}

// encodeStream codes data into per-core blocks through a StreamEncoder.
func encodeStream(t *testing.T, c *Coder, data []byte, writes int) [][][]byte {
	t.Helper()
	var stripes [][][]byte
	enc := c.NewStreamEncoder(0, func(s uint64, shards [][]byte) error {
		if s != uint64(len(stripes)) {
			t.Fatalf("stripe %d emitted after %d", s, len(stripes))
		}
		stripes = append(stripes, shards)
		return nil
	})
	step := max(1, len(data)/writes)
	for off := 0; off < len(data); off += step {
		if _, err := enc.Write(data[off:min(off+step, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	return stripes
}

func TestEncodeReconstructAnyM(t *testing.T) {
	l := Layout{K: 4, M: 2}
	c, err := NewCoder(l)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3*int(l.StripeSize())+12345)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	stripes := encodeStream(t, c, data, 7)
	if uint64(len(stripes)) != l.Stripes(int64(len(data))) {
		t.Fatalf("%d stripes, want %d", len(stripes), l.Stripes(int64(len(data))))
	}
	// Data shards are the stream, zero padded.
	var joined []byte
	for _, sh := range stripes {
		for _, b := range sh[:l.K] {
			joined = append(joined, b...)
		}
	}
	if !bytes.Equal(joined[:len(data)], data) || bytes.Count(joined[len(data):], []byte{0}) != len(joined)-len(data) {
		t.Fatal("data shards are not the zero-padded stream")
	}
	// Every pair of lost shards is recoverable, and ReconstructShard
	// rebuilds exactly the lost block.
	for a := 0; a < l.N(); a++ {
		for b := a + 1; b < l.N(); b++ {
			for _, orig := range stripes {
				sh := make([][]byte, l.N())
				for j := range sh {
					if j != a && j != b {
						sh[j] = bytes.Clone(orig[j])
					}
				}
				got, err := c.ReconstructShard(sh, a)
				if err != nil || !bytes.Equal(got, orig[a]) {
					t.Fatalf("ReconstructShard(lost %d,%d): %v", a, b, err)
				}
				if err := c.Reconstruct(sh); err != nil {
					t.Fatal(err)
				}
				for j := range sh {
					if !bytes.Equal(sh[j], orig[j]) {
						t.Fatalf("lost %d,%d: shard %d differs after Reconstruct", a, b, j)
					}
				}
				ok, err := c.Verify(sh)
				if err != nil || !ok {
					t.Fatalf("Verify after reconstruct: %v %v", ok, err)
				}
			}
		}
	}
}

func TestReconstructDataOnlyData(t *testing.T) {
	l := Layout{K: 3, M: 2}
	c, _ := NewCoder(l)
	shards, err := c.EncodeStripe([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	sh := [][]byte{nil, shards[1], shards[2], shards[3], nil}
	if err := c.ReconstructData(sh); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(sh[0], []byte("hello")) || len(sh[4]) != 0 {
		t.Fatalf("ReconstructData: shard 0 %q..., parity 4 has %d bytes", sh[0][:5], len(sh[4]))
	}
}

func TestBadShards(t *testing.T) {
	l := Layout{K: 3, M: 2}
	c, _ := NewCoder(l)
	shards, _ := c.EncodeStripe(nil)
	// Too few.
	sh := [][]byte{shards[0], nil, nil, shards[3], nil}
	if err := c.Reconstruct(sh); !errors.Is(err, ErrTooFewShards) {
		t.Fatalf("2 of 5 shards: %v, want ErrTooFewShards", err)
	}
	if _, err := c.ReconstructShard(sh, 1); !errors.Is(err, ErrTooFewShards) {
		t.Fatalf("ReconstructShard with 2 of 5: %v", err)
	}
	// Wrong size.
	sh = [][]byte{shards[0], shards[1][:100], shards[2], shards[3], nil}
	if err := c.Reconstruct(sh); err == nil {
		t.Fatal("short shard accepted")
	}
	// Wrong count.
	if err := c.Reconstruct(shards[:4]); err == nil {
		t.Fatal("4 shards accepted for n = 5")
	}
	if _, err := c.ReconstructShard(shards, 5); err == nil {
		t.Fatal("shard index 5 accepted for n = 5")
	}
	// Oversized stripe.
	if _, err := c.EncodeStripe(make([]byte, l.StripeSize()+1)); err == nil {
		t.Fatal("stripe larger than k·B accepted")
	}
	// A corrupted shard fails Verify.
	shards[4][10] ^= 1
	if ok, err := c.Verify(shards); err != nil || ok {
		t.Fatalf("Verify of corrupted stripe: %v %v", ok, err)
	}
}

func TestNoParity(t *testing.T) {
	c, err := NewCoder(Layout{K: 2, M: 0})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := c.EncodeStripe([]byte("x"))
	if err != nil || len(sh) != 2 {
		t.Fatalf("%d shards, %v", len(sh), err)
	}
	if err := c.Reconstruct([][]byte{sh[0], nil}); !errors.Is(err, ErrTooFewShards) {
		t.Fatalf("m = 0 with a lost shard: %v", err)
	}
}

func TestCoreKey(t *testing.T) {
	m := vectorMaster()
	a, err := CoreKey(m, []byte("vol-a"), 0)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := CoreKey(m, []byte("vol-a"), 0)
	if !a.Equal(again) {
		t.Fatal("CoreKey is not deterministic")
	}
	seen := map[string]bool{string(a): true}
	for _, k := range []struct {
		vol string
		j   int
	}{{"vol-a", 1}, {"vol-b", 0}, {"vol-a\x00", 0}} {
		o, err := CoreKey(m, []byte(k.vol), k.j)
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(o)] {
			t.Fatalf("key of %q/%d repeats", k.vol, k.j)
		}
		seen[string(o)] = true
	}
	other := bytes.Clone(m)
	other[0] ^= 1
	o, _ := CoreKey(other, []byte("vol-a"), 0)
	if o.Equal(a) {
		t.Fatal("another master secret gave the same key")
	}
	msg := []byte("signed")
	if !ed25519.Verify(a.Public().(ed25519.PublicKey), msg, ed25519.Sign(a, msg)) {
		t.Fatal("derived key does not sign")
	}
	for _, bad := range []func() error{
		func() error { _, err := CoreKey(m[:31], []byte("v"), 0); return err },
		func() error { _, err := CoreKey(m, nil, 0); return err },
		func() error { _, err := CoreKey(m, make([]byte, 65), 0); return err },
		func() error { _, err := CoreKey(m, []byte("v"), -1); return err },
		func() error { _, err := CoreKey(m, []byte("v"), 256); return err },
	} {
		if bad() == nil {
			t.Error("bad CoreKey input accepted")
		}
	}
}

// TestStreamEncoderRecycledBlocks: an encoder given dirty (recycled)
// blocks emits exactly the stripes of one given new memory (the padding
// of a flushed partial stripe is zero), the same as EncodeStripe; a block
// of the wrong size is an error.
func TestStreamEncoderRecycledBlocks(t *testing.T) {
	for _, l := range []Layout{{K: 4, M: 2}, {K: 3, M: 0}} {
		c, err := NewCoder(l)
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, int(l.StripeSize())*2+BlockSize+17)
		for i := range data {
			data[i] = byte(i*7 + 1)
		}
		want := encodeStream(t, c, data, 5)
		var got [][][]byte
		enc := c.NewStreamEncoder(0, func(s uint64, shards [][]byte) error {
			got = append(got, shards)
			return nil
		})
		enc.SetAlloc(func() []byte { return bytes.Repeat([]byte{0xAA}, BlockSize) })
		for off := 0; off < len(data); off += 1000 {
			if _, err := enc.Write(data[off:min(off+1000, len(data))]); err != nil {
				t.Fatal(err)
			}
		}
		if enc.Buffered() != BlockSize+17 {
			t.Fatalf("buffered %d, want %d", enc.Buffered(), BlockSize+17)
		}
		if err := enc.Flush(); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || len(got) != 3 {
			t.Fatalf("%d stripes, want %d (3)", len(got), len(want))
		}
		for s := range want {
			direct, err := c.EncodeStripe(data[s*int(l.StripeSize()) : min((s+1)*int(l.StripeSize()), len(data))])
			if err != nil {
				t.Fatal(err)
			}
			for j := range want[s] {
				if !bytes.Equal(got[s][j], want[s][j]) || !bytes.Equal(got[s][j], direct[j]) {
					t.Fatalf("%+v: stripe %d shard %d differs with recycled blocks", l, s, j)
				}
			}
		}
		enc.SetAlloc(func() []byte { return make([]byte, BlockSize-1) })
		if _, err := enc.Write([]byte{1}); err == nil {
			t.Fatal("a short block was taken")
		}
	}
}
