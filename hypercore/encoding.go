package hypercore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrEncoding is wrapped by every compact-encoding decode failure.
var ErrEncoding = errors.New("hypercore: bad encoding")

// appendUint appends a compact-encoding uint.
func appendUint(b []byte, v uint64) []byte {
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

func uintLen(v uint64) int {
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

func appendBuffer(b, v []byte) []byte {
	b = appendUint(b, uint64(len(v)))
	return append(b, v...)
}

// decoder reads compact encoding from a byte slice; the first error sticks
// and every later read returns zero values, so callers check err once.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrEncoding, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.remaining() {
		d.fail("need %d bytes, have %d", n, d.remaining())
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

func (d *decoder) uint() uint64 {
	p := d.take(1)
	if p == nil {
		return 0
	}
	switch p[0] {
	case 0xfd:
		if q := d.take(2); q != nil {
			return uint64(binary.LittleEndian.Uint16(q))
		}
	case 0xfe:
		if q := d.take(4); q != nil {
			return uint64(binary.LittleEndian.Uint32(q))
		}
	case 0xff:
		if q := d.take(8); q != nil {
			return binary.LittleEndian.Uint64(q)
		}
	default:
		return uint64(p[0])
	}
	return 0
}

// count reads an array length and checks that at least min bytes per item
// remain, so a hostile length cannot make us allocate.
func (d *decoder) count(minItem int) int {
	n := d.uint()
	if d.err != nil {
		return 0
	}
	if n > uint64(d.remaining()/minItem) {
		d.fail("array of %d items cannot fit in %d bytes", n, d.remaining())
		return 0
	}
	return int(n)
}

func (d *decoder) buffer() []byte {
	n := d.uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(d.remaining()) {
		d.fail("buffer of %d bytes, have %d", n, d.remaining())
		return nil
	}
	return d.take(int(n))
}

func (d *decoder) fixed32() (h [32]byte) {
	copy(h[:], d.take(32))
	return h
}

func (d *decoder) end() error {
	if d.err == nil && d.remaining() != 0 {
		d.fail("%d trailing bytes", d.remaining())
	}
	return d.err
}
