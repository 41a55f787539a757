package s3

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"hash/crc32"
	"io"

	"github.com/datdot/datdot/gateway/store"
)

// errDataCorrupt reports object data whose checksum differs from the one
// stored when it was written (bit rot, or a file changed behind the
// gateway's back).
var errDataCorrupt = errors.New("s3: object data does not match its stored checksum")

// verifyWhole wraps the reader of a whole object's data so that the data is
// checked against the object's stored full-object CRC32 or CRC32C, which
// the CPU computes far faster than the data can be sent. The last read is
// held back until the check passes: on a mismatch the client gets a body
// that breaks off (the connection is cut), never all the bytes of a 200.
// Objects without such a checksum are returned unwrapped. getObject skips
// it for objects whose blobs the store reads authenticated
// (store.ReadsAuthenticated): there a changed byte is already an error.
func verifyWhole(obj *store.Object, r io.ReadCloser) io.ReadCloser {
	if obj.ChecksumType != "" && obj.ChecksumType != "FULL_OBJECT" {
		return r
	}
	var h hash.Hash32
	var want string
	switch {
	case obj.Checksums["CRC32C"] != "":
		h, want = crc32.New(crc32.MakeTable(crc32.Castagnoli)), obj.Checksums["CRC32C"]
	case obj.Checksums["CRC32"] != "":
		h, want = crc32.NewIEEE(), obj.Checksums["CRC32"]
	default:
		return r
	}
	sum, err := base64.StdEncoding.DecodeString(want)
	if err != nil || len(sum) != 4 {
		return r
	}
	return &verifyingReader{ReadCloser: r, h: h, want: binary.BigEndian.Uint32(sum), remain: obj.Size}
}

type verifyingReader struct {
	io.ReadCloser
	h      hash.Hash32
	want   uint32
	remain int64
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.ReadCloser.Read(p)
	v.h.Write(p[:n])
	v.remain -= int64(n)
	if v.remain == 0 && n > 0 && v.h.Sum32() != v.want {
		return 0, errDataCorrupt
	}
	return n, err
}
