package sigv4

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// testSigner returns a chunk signer as Authenticate would set it up for a
// request with seed signature seed.
func testSigner() *chunkSigner {
	return &chunkSigner{
		key:     signingKey(testSecret, "20260304", testRegion, "s3"),
		amzDate: "20260304T050607Z",
		scope:   "20260304/" + testRegion + "/s3/aws4_request",
		prev:    strings.Repeat("ab", 32),
	}
}

// frameSigned frames data as STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)
// with chunks of size n, signing as a client does.
func frameSigned(s chunkSigner, data []byte, n int, trailer string) []byte {
	sign := func(sts string) string {
		sig := hex.EncodeToString(hmacSHA256(s.key, []byte(sts)))
		s.prev = sig
		return sig
	}
	chunkSig := func(c []byte) string {
		h := sha256.Sum256(c)
		return sign("AWS4-HMAC-SHA256-PAYLOAD\n" + s.amzDate + "\n" + s.scope + "\n" + s.prev + "\n" + emptySHA256 + "\n" + hex.EncodeToString(h[:]))
	}
	var b bytes.Buffer
	for len(data) > 0 {
		c := data[:min(n, len(data))]
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(c), chunkSig(c))
		b.Write(c)
		b.WriteString("\r\n")
		data = data[len(c):]
	}
	fmt.Fprintf(&b, "0;chunk-signature=%s\r\n", chunkSig(nil))
	if trailer != "" {
		canon := trailer + "\n"
		h := sha256.Sum256([]byte(canon))
		sig := sign("AWS4-HMAC-SHA256-TRAILER\n" + s.amzDate + "\n" + s.scope + "\n" + s.prev + "\n" + hex.EncodeToString(h[:]))
		fmt.Fprintf(&b, "%s\r\nx-amz-trailer-signature:%s\r\n", trailer, sig)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// decodeChunked runs framed through the decoder and verifier the way
// setupBody wires them, expecting a trailing CRC32C if trailer is set.
func decodeChunked(framed []byte, signer *chunkSigner, trailer bool, expect int64) ([]byte, *payloadReader, error) {
	dec := newChunkDecoder(bytes.NewReader(framed), signer, trailer)
	pr := &payloadReader{src: dec, dec: dec, closer: io.NopCloser(nil), md5: md5.New(), expect: expect}
	if trailer {
		pr.ckAlg, pr.ckTrailer = ChecksumCRC32C, true
		pr.ck, _ = NewChecksumHash(ChecksumCRC32C)
	}
	out, err := io.ReadAll(pr)
	return out, pr, err
}

func TestChunkedRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 100, 8192, 65536, 200000} {
		data := testPayload(size)
		for _, trailer := range []bool{false, true} {
			tr := ""
			if trailer {
				tr = "x-amz-checksum-crc32c:" + checksumOf(ChecksumCRC32C, data)
			}
			s := testSigner()
			framed := frameSigned(*s, data, 8192, tr)
			out, pr, err := decodeChunked(framed, s, trailer, int64(size))
			if err != nil || !bytes.Equal(out, data) {
				t.Fatalf("size %d trailer %v: %d bytes, %v", size, trailer, len(out), err)
			}
			if trailer && pr.checksums()[ChecksumCRC32C] != checksumOf(ChecksumCRC32C, data) {
				t.Fatalf("checksums %v", pr.checksums())
			}
			// Chunks that arrive one byte at a time decode the same.
			dec := newChunkDecoder(iotestOneByte(framed), testSigner(), trailer)
			out, err = io.ReadAll(dec)
			if err != nil || !bytes.Equal(out, data) {
				t.Fatalf("one byte at a time: %d bytes, %v", len(out), err)
			}
		}
	}
}

func iotestOneByte(b []byte) io.Reader { return &oneByteReader{b} }

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// FuzzChunkedSigned frames data with chunk signatures and a signed
// trailer, then truncates and corrupts the framing. Whatever the damage,
// the decoder must either fail or yield exactly the original data with a
// verified checksum: it never panics and never accepts a truncated or
// altered payload.
func FuzzChunkedSigned(f *testing.F) {
	f.Add([]byte("hello world"), uint16(4), uint32(1<<31), uint32(1<<31), byte(1), true)
	f.Add(bytes.Repeat([]byte("x"), 1000), uint16(100), uint32(500), uint32(1<<31), byte(0), false)
	f.Add([]byte{}, uint16(1), uint32(10), uint32(3), byte(0x20), true)
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16, cut uint32, flip uint32, mask byte, trailer bool) {
		// Small inputs keep executions (and the fuzzer's minimisation of
		// new inputs) fast; chunk and cut positions are what matter.
		if len(data) > 4096 {
			data = data[:4096]
		}
		if c := len(data)/64 + 1; int(chunk) < c {
			chunk = uint16(c)
		}
		tr := ""
		if trailer {
			tr = "x-amz-checksum-crc32c:" + checksumOf(ChecksumCRC32C, data)
		}
		s := testSigner()
		framed := frameSigned(*s, data, int(chunk), tr)
		if int(cut) < len(framed) {
			framed = framed[:cut]
		}
		if int(flip) < len(framed) {
			framed[flip] ^= mask
		}
		out, pr, err := decodeChunked(framed, s, trailer, int64(len(data)))
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("accepted %d bytes that differ from the %d sent (cut %d flip %d)", len(out), len(data), cut, flip)
		}
		if trailer && pr.checksums()[ChecksumCRC32C] != checksumOf(ChecksumCRC32C, data) {
			t.Fatalf("accepted without the checksum")
		}
	})
}

// FuzzChunkedUnsigned feeds arbitrary bytes to the unsigned aws-chunked
// decoder (STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32C trailer): it
// must never panic, fail only with *Error, and succeed only when the body
// ended with a final chunk and a trailer whose checksum matches.
func FuzzChunkedUnsigned(f *testing.F) {
	data := []byte("some data")
	f.Add(unsignedTrailerBody(data, 4, "x-amz-checksum-crc32c:"+checksumOf(ChecksumCRC32C, data)+"\r\n"))
	f.Add([]byte("0\r\n\r\n"))
	f.Add([]byte("3;ext=1\r\nabc\r\n0\r\nx-amz-checksum-crc32c:" + checksumOf(ChecksumCRC32C, []byte("abc")) + "\n\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, pr, err := decodeChunked(raw, nil, true, -1)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		want := checksumOf(ChecksumCRC32C, out)
		if pr.checksums()[ChecksumCRC32C] != want || pr.dec.trailers["x-amz-checksum-crc32c"] != want {
			t.Fatalf("accepted a body whose trailer does not match its data")
		}
		if pr.dec.state != stDone {
			t.Fatalf("accepted before the final chunk")
		}
	})
}

func benchChunked(b *testing.B, signed bool) {
	data := testPayload(16 << 20)
	var framed []byte
	s := testSigner()
	if signed {
		framed = frameSigned(*s, data, 64<<10, "x-amz-checksum-crc32c:"+checksumOf(ChecksumCRC32C, data))
	} else {
		framed = unsignedTrailerBody(data, 64<<10, "x-amz-checksum-crc32c:"+checksumOf(ChecksumCRC32C, data)+"\r\n")
	}
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		var sg *chunkSigner
		if signed {
			c := *s
			sg = &c
		}
		dec := newChunkDecoder(bytes.NewReader(framed), sg, true)
		if _, err := io.CopyBuffer(io.Discard, onlyReader{dec}, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChunkedDecodeSigned measures the aws-chunked decoder alone with
// chunk signatures (SHA-256 of every chunk + one HMAC per chunk).
func BenchmarkChunkedDecodeSigned(b *testing.B) { benchChunked(b, true) }

// BenchmarkChunkedDecodeUnsigned measures the unsigned aws-chunked decoder
// alone (framing only).
func BenchmarkChunkedDecodeUnsigned(b *testing.B) { benchChunked(b, false) }

// BenchmarkBodyUnsignedTrailer measures the whole body path for the mode
// the newest SDKs use: decoding, the CRC32C trailer check and the MD5 for
// the ETag.
func BenchmarkBodyUnsignedTrailer(b *testing.B) {
	data := testPayload(16 << 20)
	framed := unsignedTrailerBody(data, 64<<10, "x-amz-checksum-crc32c:"+checksumOf(ChecksumCRC32C, data)+"\r\n")
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		dec := newChunkDecoder(bytes.NewReader(framed), nil, true)
		pr := &payloadReader{src: dec, dec: dec, closer: io.NopCloser(nil), md5: md5.New(), expect: int64(len(data)),
			ckAlg: ChecksumCRC32C, ckTrailer: true}
		pr.ck, _ = NewChecksumHash(ChecksumCRC32C)
		if _, err := io.CopyBuffer(io.Discard, onlyReader{pr}, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func TestChecksumKnownValues(t *testing.T) {
	// Check values of the catalogue of CRC parameters for "123456789".
	for alg, want := range map[string]string{
		ChecksumCRC32:     "cbf43926",
		ChecksumCRC32C:    "e3069283",
		ChecksumCRC64NVME: "ae8b14860a799888",
	} {
		h, _ := NewChecksumHash(alg)
		h.Write([]byte("123456789"))
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("%s = %s, want %s", alg, got, want)
		}
	}
	// xxHash reference digests of the empty input, canonical (big-endian).
	for alg, want := range map[string]string{
		ChecksumXXHASH64:  "ef46db3751d8e999",
		ChecksumXXHASH3:   "2d06800538d394c2",
		ChecksumXXHASH128: "99aa06d3014798d86001c324468d497f",
	} {
		h, _ := NewChecksumHash(alg)
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("%s(\"\") = %s, want %s", alg, got, want)
		}
	}
	if h, ok := NewChecksumHash("MD5"); !ok || hex.EncodeToString(h.Sum(nil)) != "d41d8cd98f00b204e9800998ecf8427e" {
		t.Error("x-amz-checksum-md5 is not MD5")
	}
	if got := base64.StdEncoding.EncodeToString([]byte{0, 0, 0, 0}); !validChecksumValue(ChecksumCRC32, got) || validChecksumValue(ChecksumSHA1, got) {
		t.Error("checksum value size check")
	}
}

func TestCanonicalURI(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "/",
		"/":                        "/",
		"/b/a b":                   "/b/a%20b",
		"/b/a%20b":                 "/b/a%20b",
		"/b/a%2fb":                 "/b/a%2Fb",
		"/b/%7Euser":               "/b/~user",
		"/b/~user":                 "/b/~user",
		"/b/$x+y":                  "/b/%24x%2By",
		"/b/%e2%82%ac":             "/b/%E2%82%AC",
		"/b//double//":             "/b//double//",
		"/b/100%":                  "/b/100%25",
		"/b/%zz":                   "/b/%25zz",
		"/b/./x/../y":              "/b/./x/../y",
		"/b/\xe2\x82\xac?notquery": "/b/%E2%82%AC%3Fnotquery",
	} {
		if got := canonicalURI(in); got != want {
			t.Errorf("canonicalURI(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"  a   b  ":  "a b",
		"a\t\tb":     "a b",
		"plain":      "plain",
		" \"q  q\" ": "\"q q\"",
	} {
		if got := foldSpaces(in); got != want {
			t.Errorf("foldSpaces(%q) = %q, want %q", in, got, want)
		}
	}
	if got := canonicalQuery(parseRawQuery("b=2&a=&a=1&c&X-Amz-Signature=s&d=a+b%20c"), "X-Amz-Signature"); got != "a=&a=1&b=2&c=&d=a%2Bb%20c" {
		t.Errorf("canonicalQuery = %q", got)
	}
}

// BenchmarkAuthenticateHeader measures verifying a header-signed GET
// (canonical request, key derivation, HMAC) without a body.
func BenchmarkAuthenticateHeader(b *testing.B) {
	r := httptestExample()
	v := exampleVerifier(exampleTime)
	b.ResetTimer()
	for range b.N {
		if _, err := v.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}

func httptestExample() *http.Request {
	r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
	r.Header.Set("Range", "bytes=0-9")
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("Authorization", authz("host;range;x-amz-content-sha256;x-amz-date",
		"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
	return r
}
