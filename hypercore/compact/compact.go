// Package compact is the subset of the JS compact-encoding format
// (compact-encoding 3.5.2) that the Hypercore replication protocol uses:
// uint (one byte up to 0xfc, else 0xfd+u16le, 0xfe+u32le, 0xff+u64le),
// buffers and strings (a uint length, then the bytes), optional buffers
// (length 0 means absent), fixed 32-byte values, arrays (a uint count, then
// the items) and uint32 arrays (a uint count, then u32le words).
//
// Appending never fails. A Decoder keeps the first error and returns zero
// values after it, so a caller checks Err once at the end; every length is
// checked against the bytes left before anything is allocated.
package compact

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrDecode is wrapped by every decoding error.
var ErrDecode = errors.New("compact: bad encoding")

// AppendUint appends v as a compact uint.
func AppendUint(b []byte, v uint64) []byte {
	switch {
	case v <= 0xfc:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(v))
	default:
		return binary.LittleEndian.AppendUint64(append(b, 0xff), v)
	}
}

// UintLen is the encoded size of v.
func UintLen(v uint64) int {
	switch {
	case v <= 0xfc:
		return 1
	case v <= 0xffff:
		return 3
	case v <= 0xffffffff:
		return 5
	default:
		return 9
	}
}

// AppendBuffer appends a length-prefixed byte string.
func AppendBuffer(b, v []byte) []byte {
	return append(AppendUint(b, uint64(len(v))), v...)
}

// AppendString appends a length-prefixed UTF-8 string.
func AppendString(b []byte, s string) []byte {
	return append(AppendUint(b, uint64(len(s))), s...)
}

// AppendUint32Array appends a count and then each word as u32le.
func AppendUint32Array(b []byte, words []uint32) []byte {
	b = AppendUint(b, uint64(len(words)))
	for _, w := range words {
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	return b
}

// Decoder reads compact encoding from a byte slice. Values it returns
// alias the slice.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder reads b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err is the first error, or nil.
func (d *Decoder) Err() error { return d.err }

// Remaining is the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

// Rest returns the unread bytes and consumes them.
func (d *Decoder) Rest() []byte {
	if d.err != nil {
		return nil
	}
	r := d.b[d.off:]
	d.off = len(d.b)
	return r
}

// Fail records an error (the first one sticks).
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrDecode, d.off, fmt.Sprintf(format, args...))
	}
}

// Take returns the next n bytes.
func (d *Decoder) Take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.Remaining() {
		d.Fail("need %d bytes, have %d", n, d.Remaining())
		return nil
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

// Uint reads a compact uint.
func (d *Decoder) Uint() uint64 {
	p := d.Take(1)
	if p == nil {
		return 0
	}
	switch p[0] {
	case 0xfd:
		if q := d.Take(2); q != nil {
			return uint64(binary.LittleEndian.Uint16(q))
		}
	case 0xfe:
		if q := d.Take(4); q != nil {
			return uint64(binary.LittleEndian.Uint32(q))
		}
	case 0xff:
		if q := d.Take(8); q != nil {
			return binary.LittleEndian.Uint64(q)
		}
	default:
		return uint64(p[0])
	}
	return 0
}

// Count reads an array length and checks that at least minItem bytes per
// item remain.
func (d *Decoder) Count(minItem int) int {
	n := d.Uint()
	if d.err != nil {
		return 0
	}
	if minItem < 1 {
		minItem = 1
	}
	if n > uint64(d.Remaining()/minItem) {
		d.Fail("array of %d items cannot fit in %d bytes", n, d.Remaining())
		return 0
	}
	return int(n)
}

// Buffer reads a length-prefixed byte string.
func (d *Decoder) Buffer() []byte {
	n := d.Uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(d.Remaining()) {
		d.Fail("buffer of %d bytes, have %d", n, d.Remaining())
		return nil
	}
	return d.Take(int(n))
}

// OptionalBuffer reads a buffer where length 0 means absent (nil).
func (d *Decoder) OptionalBuffer() []byte {
	b := d.Buffer()
	if len(b) == 0 {
		return nil
	}
	return b
}

// String reads a length-prefixed string.
func (d *Decoder) String() string { return string(d.Buffer()) }

// Fixed32 reads 32 bytes.
func (d *Decoder) Fixed32() (v [32]byte) {
	copy(v[:], d.Take(32))
	return v
}

// Uint32Array reads a count and that many u32le words.
func (d *Decoder) Uint32Array() []uint32 {
	n := d.Count(4)
	if d.err != nil {
		return nil
	}
	p := d.Take(4 * n)
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(p[4*i:])
	}
	return out
}

// End fails if bytes are left.
func (d *Decoder) End() error {
	if d.err == nil && d.Remaining() != 0 {
		d.Fail("%d trailing bytes", d.Remaining())
	}
	return d.err
}
