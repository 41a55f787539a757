package compact

import (
	"bytes"
	"errors"
	"testing"
)

// TestUint: the encoding switches width exactly where compact-encoding
// does, and decodes back.
func TestUint(t *testing.T) {
	for _, c := range []struct {
		v    uint64
		want []byte
	}{
		{0, []byte{0}},
		{0xfc, []byte{0xfc}},
		{0xfd, []byte{0xfd, 0xfd, 0}},
		{0xffff, []byte{0xfd, 0xff, 0xff}},
		{0x10000, []byte{0xfe, 0, 0, 1, 0}},
		{0x100000000, []byte{0xff, 0, 0, 0, 0, 1, 0, 0, 0}},
	} {
		got := AppendUint(nil, c.v)
		if !bytes.Equal(got, c.want) || UintLen(c.v) != len(c.want) {
			t.Fatalf("%d: %x", c.v, got)
		}
		d := NewDecoder(got)
		if v := d.Uint(); v != c.v || d.End() != nil {
			t.Fatalf("%d decodes to %d (%v)", c.v, v, d.Err())
		}
	}
}

// TestDecoderErrors: short input and oversized lengths fail without
// allocating, the first error sticks, and trailing bytes are reported.
func TestDecoderErrors(t *testing.T) {
	d := NewDecoder([]byte{5, 1, 2})
	if b := d.Buffer(); b != nil || !errors.Is(d.Err(), ErrDecode) {
		t.Fatalf("short buffer: %x %v", b, d.Err())
	}
	if d.Uint() != 0 || d.Fixed32() != ([32]byte{}) {
		t.Fatal("reads after an error return values")
	}
	d = NewDecoder([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f})
	if a := d.Uint32Array(); a != nil || d.Err() == nil {
		t.Fatal("huge array accepted")
	}
	d = NewDecoder(AppendString(AppendBuffer(nil, []byte("ab")), "cd"))
	if string(d.Buffer()) != "ab" || d.String() != "cd" || d.End() != nil {
		t.Fatal("buffer/string round trip")
	}
	d = NewDecoder([]byte{1, 2})
	d.Uint()
	if d.End() == nil {
		t.Fatal("trailing byte not reported")
	}
	d = NewDecoder(AppendUint32Array(nil, []uint32{1, 0xffffffff}))
	if a := d.Uint32Array(); len(a) != 2 || a[1] != 0xffffffff || d.End() != nil {
		t.Fatalf("uint32 array %v", a)
	}
	if NewDecoder(AppendBuffer(nil, nil)).OptionalBuffer() != nil {
		t.Fatal("empty optional buffer is not absent")
	}
}
