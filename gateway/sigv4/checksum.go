package sigv4

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
)

// Checksum algorithms as S3 names them (x-amz-checksum-algorithm,
// x-amz-sdk-checksum-algorithm, and the keys of Result.Checksums).
const (
	ChecksumCRC32     = "CRC32"
	ChecksumCRC32C    = "CRC32C"
	ChecksumSHA1      = "SHA1"
	ChecksumSHA256    = "SHA256"
	ChecksumCRC64NVME = "CRC64NVME"
	ChecksumSHA512    = "SHA512"
	ChecksumXXHASH64  = "XXHASH64"
	ChecksumXXHASH3   = "XXHASH3"
	ChecksumXXHASH128 = "XXHASH128"
	ChecksumMD5       = "MD5"
	// ContentMD5 is the key of the Content-MD5 value (hex) in
	// Result.Checksums.
	ContentMD5 = "Content-MD5"
)

// ChecksumAlgorithms lists the x-amz-checksum-* algorithms supported, in
// the order their headers are looked for.
var checksumAlgorithms = []string{ChecksumCRC32, ChecksumCRC32C, ChecksumSHA1, ChecksumSHA256, ChecksumCRC64NVME, ChecksumSHA512,
	ChecksumXXHASH64, ChecksumXXHASH3, ChecksumXXHASH128, ChecksumMD5}

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// CRC64NVME is the reflected polynomial 0xAD93D23594C93659; Go's
	// crc64 takes it in reversed notation and applies the same initial
	// and final inversion.
	crc64nvme = crc64.MakeTable(0x9a6c9329ac4bc9b5)
)

// ChecksumAlgorithms returns the names of the supported x-amz-checksum-*
// algorithms.
func ChecksumAlgorithms() []string {
	return append([]string(nil), checksumAlgorithms...)
}

// NewChecksumHash returns a new hash for a checksum algorithm name (case
// insensitive). Its Sum is the big-endian digest that S3 sends base64
// encoded.
func NewChecksumHash(alg string) (hash.Hash, bool) {
	switch strings.ToUpper(alg) {
	case ChecksumCRC32:
		return crc32.NewIEEE(), true
	case ChecksumCRC32C:
		return crc32.New(castagnoli), true
	case ChecksumSHA1:
		return sha1.New(), true
	case ChecksumSHA256:
		return sha256.New(), true
	case ChecksumCRC64NVME:
		return crc64.New(crc64nvme), true
	case ChecksumSHA512:
		return sha512.New(), true
	case ChecksumXXHASH64:
		// Seed 0; Sum is the canonical (big-endian) digest.
		return xxhash.New(), true
	case ChecksumXXHASH3:
		return xxh3.New(), true
	case ChecksumXXHASH128:
		return xxh3.New128(), true
	case ChecksumMD5:
		return md5.New(), true
	}
	return nil, false
}

// ChecksumHeader returns the header that carries an algorithm's checksum,
// e.g. "x-amz-checksum-crc32c".
func ChecksumHeader(alg string) string {
	return "x-amz-checksum-" + strings.ToLower(alg)
}

// checksumAlgFromHeader maps "x-amz-checksum-crc32" (any case) to "CRC32".
func checksumAlgFromHeader(name string) (string, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	rest, ok := strings.CutPrefix(name, "x-amz-checksum-")
	if !ok {
		return "", false
	}
	alg := strings.ToUpper(rest)
	if _, ok := NewChecksumHash(alg); !ok {
		return "", false
	}
	return alg, true
}

// unsupportedChecksumHeader reports whether name is an x-amz-checksum-*
// value header of an algorithm this package does not verify: such a request
// is refused rather than stored unchecked.
func unsupportedChecksumHeader(name string) bool {
	rest, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-checksum-")
	if !ok {
		return false
	}
	switch rest {
	case "algorithm", "type", "mode":
		return false
	}
	_, known := NewChecksumHash(rest)
	return !known
}

// checksumSize is the digest size of alg in bytes.
func checksumSize(alg string) int {
	h, _ := NewChecksumHash(alg)
	return h.Size()
}

// validChecksumValue reports whether v is the standard base64 of a digest
// of the right size for alg.
func validChecksumValue(alg, v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == checksumSize(alg)
}
