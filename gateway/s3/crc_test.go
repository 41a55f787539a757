package s3

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"hash/crc64"
	"math/rand/v2"
	"testing"
)

func b64u32(v uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return base64.StdEncoding.EncodeToString(b[:])
}

func b64u64(v uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return base64.StdEncoding.EncodeToString(b[:])
}

// TestCombineCRCs checks the combined CRC of pieces against the CRC of the
// whole, for every supported CRC and uneven piece sizes (including empty).
func TestCombineCRCs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	cuts := []int{0, 1, 7, 7, 4096, 100000, 299999, 300000}
	nvme := crc64.MakeTable(0x9a6c9329ac4bc9b5)
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	whole := map[string]string{
		"CRC32":     b64u32(crc32.ChecksumIEEE(data)),
		"CRC32C":    b64u32(crc32.Checksum(data, castagnoli)),
		"CRC64NVME": b64u64(crc64.Checksum(data, nvme)),
	}
	for alg, want := range whole {
		var sums []string
		var sizes []int64
		for i := 1; i < len(cuts); i++ {
			piece := data[cuts[i-1]:cuts[i]]
			switch alg {
			case "CRC32":
				sums = append(sums, b64u32(crc32.ChecksumIEEE(piece)))
			case "CRC32C":
				sums = append(sums, b64u32(crc32.Checksum(piece, castagnoli)))
			case "CRC64NVME":
				sums = append(sums, b64u64(crc64.Checksum(piece, nvme)))
			}
			sizes = append(sizes, int64(len(piece)))
		}
		got, ok := combineCRCs(alg, sums, sizes)
		if !ok || got != want {
			t.Errorf("%s: combined %q (ok=%v), whole %q", alg, got, ok, want)
		}
	}
	if _, ok := combineCRCs("SHA256", []string{"x"}, []int64{1}); ok {
		t.Error("SHA256 combined")
	}
}
