package s3

import (
	"encoding/base64"
	"encoding/binary"
)

// Combining CRCs: the CRC of A||B follows from crc(A), crc(B) and len(B),
// which gives the full-object CRC of a multipart upload from its parts'
// CRCs without reading the data again. The CRCs here are reflected, with
// all-ones initial value and final xor, so the conditioning cancels and
// crc(A||B) = crc(A)·x^(8·len(B)) mod P  xor  crc(B).

// crcParams describes a reflected CRC: width in bits and polynomial in
// reflected form.
type crcParams struct {
	width int
	poly  uint64
}

var crcAlgs = map[string]crcParams{
	"CRC32":     {32, 0xEDB88320},
	"CRC32C":    {32, 0x82F63B78},
	"CRC64NVME": {64, 0x9A6C9329AC4BC9B5},
}

// mulmod multiplies a and b modulo the polynomial (reflected bit order:
// the most significant bit is x^0).
func (c crcParams) mulmod(a, b uint64) uint64 {
	top := uint64(1) << (c.width - 1)
	var p uint64
	for m := top; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ c.poly
		} else {
			b >>= 1
		}
	}
	return p
}

// xpow8n returns x^(8n) modulo the polynomial.
func (c crcParams) xpow8n(n uint64) uint64 {
	result := uint64(1) << (c.width - 1) // x^0
	base := uint64(1) << (c.width - 1 - 8)
	for n > 0 {
		if n&1 != 0 {
			result = c.mulmod(result, base)
		}
		base = c.mulmod(base, base)
		n >>= 1
	}
	return result
}

func (c crcParams) combine(crc1, crc2, len2 uint64) uint64 {
	return c.mulmod(crc1, c.xpow8n(len2)) ^ crc2
}

// combineCRCs returns the base64 CRC of the concatenation of pieces, given
// each piece's base64 CRC and length. ok is false for an algorithm that is
// not a CRC or a malformed value.
func combineCRCs(alg string, sums []string, sizes []int64) (string, bool) {
	c, ok := crcAlgs[alg]
	if !ok || len(sums) != len(sizes) || len(sums) == 0 {
		return "", false
	}
	var acc uint64
	for i, s := range sums {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(raw) != c.width/8 {
			return "", false
		}
		var v uint64
		if c.width == 32 {
			v = uint64(binary.BigEndian.Uint32(raw))
		} else {
			v = binary.BigEndian.Uint64(raw)
		}
		if i == 0 {
			acc = v
		} else {
			acc = c.combine(acc, v, uint64(sizes[i]))
		}
	}
	out := make([]byte, c.width/8)
	if c.width == 32 {
		binary.BigEndian.PutUint32(out, uint32(acc))
	} else {
		binary.BigEndian.PutUint64(out, acc)
	}
	return base64.StdEncoding.EncodeToString(out), true
}
