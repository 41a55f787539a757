package network

import (
	"bytes"
	"crypto/rand"
	"testing"
	"unsafe"

	"github.com/datdot/datdot/volume"
)

// TestAssembleDecodesIntoBuffer: a window whose answers lack a data core
// (the parity core answered first) is decoded into the buffer it is given,
// one block per missing shard and stripe, and the decoded blocks equal
// the ones written. Without a buffer the decode still comes out right.
func TestAssembleDecodesIntoBuffer(t *testing.T) {
	l := volume.Layout{K: 4, M: 2}
	coder, err := volume.NewCoder(l)
	if err != nil {
		t.Fatal(err)
	}
	const stripes = 3
	got := make([][][]byte, l.N())
	want := make([][][]byte, stripes)
	for s := range stripes {
		data := make([]byte, l.StripeSize())
		rand.Read(data)
		shards, err := coder.EncodeStripe(data)
		if err != nil {
			t.Fatal(err)
		}
		want[s] = shards
		for j := range l.N() {
			got[j] = append(got[j], shards[j])
		}
	}
	got[2] = nil // data core 2 did not answer; parity core 4 did
	got[5] = nil
	need := []bool{true, true, true, true}
	for _, pooled := range []bool{true, false} {
		var dec *[]byte
		if pooled {
			b := make([]byte, stripes*volume.BlockSize)
			dec = &b
		}
		out := assemble(got, l, 10, 10+stripes, need, coder, dec)
		if out == nil {
			t.Fatal("decode failed")
		}
		for s := range stripes {
			for j := range l.K {
				if !bytes.Equal(out[s][j], want[s][j]) {
					t.Fatalf("pooled %v: stripe %d shard %d differs", pooled, s, j)
				}
			}
			in := pooled && unsafe.SliceData(out[s][2]) == &(*dec)[s*volume.BlockSize]
			if in != pooled {
				t.Fatalf("pooled %v: stripe %d decoded into the buffer: %v", pooled, s, in)
			}
		}
	}
}
