package sigv4

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// chunkSigner holds what is needed to verify chunk and trailer
// signatures: the signing key, the request's date and scope, and the
// signature of the previous chunk (the seed signature to start with).
type chunkSigner struct {
	key     []byte
	amzDate string
	scope   string
	prev    string
}

// verifyChunk checks the signature of a chunk whose SHA-256 is sum and
// makes it the previous signature.
func (s *chunkSigner) verifyChunk(sum []byte, provided string) bool {
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + s.amzDate + "\n" + s.scope + "\n" + s.prev + "\n" +
		emptySHA256 + "\n" + hex.EncodeToString(sum)
	want := hmacSHA256(s.key, []byte(sts))
	if !signatureEqual(want, provided) {
		return false
	}
	s.prev = hex.EncodeToString(want)
	return true
}

// verifyTrailer checks the signature of the trailer chunk whose canonical
// form ("name:value\n" per trailer) hashes to sum.
func (s *chunkSigner) verifyTrailer(sum []byte, provided string) bool {
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + s.amzDate + "\n" + s.scope + "\n" + s.prev + "\n" +
		hex.EncodeToString(sum)
	want := hmacSHA256(s.key, []byte(sts))
	if !signatureEqual(want, provided) {
		return false
	}
	s.prev = hex.EncodeToString(want)
	return true
}

// setupBody validates the body-related headers and installs the decoding,
// verifying reader as res.Body.
func (v *Verifier) setupBody(r *http.Request, res *Result, mode string, signer *chunkSigner) *Error {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	res.PayloadMode = mode
	res.ContentEncoding = stripAwsChunked(r.Header.Values("Content-Encoding"))

	pr := &payloadReader{closer: body, md5: md5.New(), expect: -1}

	// Decoded length.
	declared := int64(-1)
	if vs, ok := r.Header["X-Amz-Decoded-Content-Length"]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(strings.Join(vs, ",")), 10, 64)
		if err != nil || n < 0 {
			return errInvalidArgument("x-amz-decoded-content-length must be a non-negative integer.")
		}
		declared = n
	}

	chunked := false
	switch mode {
	case StreamingPayload, StreamingPayloadTrailer:
		if signer == nil {
			return errAccessDenied("A signed streaming payload requires a signed request.")
		}
		if declared < 0 {
			return newErr(ErrCodeMissingContentLength, http.StatusLengthRequired, "You must provide the Content-Length HTTP header.")
		}
		chunked = true
		pr.dec = newChunkDecoder(body, signer, mode == StreamingPayloadTrailer)
	case StreamingUnsignedTrailer:
		chunked = true
		pr.dec = newChunkDecoder(body, nil, true)
	case UnsignedPayload:
	default:
		want, err := hex.DecodeString(mode)
		if err != nil || len(want) != sha256.Size {
			return errBadPayloadHash()
		}
		pr.sha, pr.wantSHA = sha256.New(), want
	}
	if chunked {
		pr.src = pr.dec
		pr.expect = declared
		res.ContentLength = declared
	} else {
		pr.src = body
		pr.expect = r.ContentLength
		if declared >= 0 {
			pr.expect = declared
			if r.ContentLength >= 0 && r.ContentLength != declared {
				return errInvalidRequest("x-amz-decoded-content-length does not match Content-Length for a body that is not aws-chunked.")
			}
		}
		res.ContentLength = pr.expect
		if res.ContentLength < 0 {
			res.ContentLength = -1
		}
	}

	// Content-MD5.
	if vs, ok := r.Header["Content-Md5"]; ok {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.Join(vs, ",")))
		if err != nil || len(b) != md5.Size {
			return newErr(ErrCodeInvalidDigest, http.StatusBadRequest, "The Content-MD5 you specified was invalid.")
		}
		pr.wantMD5 = b
	}

	// x-amz-checksum-* in headers. On CompleteMultipartUpload (POST
	// ?uploadId=) they carry the checksum of the whole object, not of the
	// XML body: the server checks those itself.
	objectChecksums := r.Method == http.MethodPost && hasQueryKey(r, "uploadId")
	for name := range r.Header {
		if unsupportedChecksumHeader(name) {
			return errInvalidRequest("The checksum algorithm of " + strings.ToLower(name) + " is not supported by this server.")
		}
	}
	for _, alg := range checksumAlgorithms {
		vs, ok := r.Header[http.CanonicalHeaderKey(ChecksumHeader(alg))]
		if !ok || objectChecksums {
			continue
		}
		if pr.ckAlg != "" {
			return errInvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		val := strings.TrimSpace(strings.Join(vs, ","))
		if !validChecksumValue(alg, val) {
			// AWS answers a checksum that cannot be decoded like a
			// wrong one (the s3-tests expect BadDigest for "bad").
			return newErr(ErrCodeBadDigest, http.StatusBadRequest, "The "+alg+" you specified did not match the calculated checksum.")
		}
		pr.ckAlg, pr.ckWant = alg, val
	}

	// x-amz-trailer names the trailing checksum.
	if vs, ok := r.Header["X-Amz-Trailer"]; ok {
		for _, name := range strings.Split(strings.Join(vs, ","), ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			alg, ok := checksumAlgFromHeader(name)
			if !ok {
				return errInvalidRequest("The value specified in the x-amz-trailer header is not supported: " + name)
			}
			if pr.ckAlg != "" {
				return errInvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
			}
			pr.ckAlg, pr.ckTrailer = alg, true
		}
		if pr.ckTrailer && (!chunked || !pr.dec.trailer) {
			return errInvalidRequest("The x-amz-trailer header requires x-amz-content-sha256 STREAMING-UNSIGNED-PAYLOAD-TRAILER or STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER.")
		}
	}
	if pr.ckAlg != "" {
		pr.ck, _ = NewChecksumHash(pr.ckAlg)
	}

	res.payload = pr
	res.Body = pr
	res.Checksums = pr.checksums
	return nil
}

// stripAwsChunked removes "aws-chunked" from a Content-Encoding list.
func stripAwsChunked(vs []string) string {
	var keep []string
	for _, v := range vs {
		for _, e := range strings.Split(v, ",") {
			e = strings.TrimSpace(e)
			if e == "" || strings.EqualFold(e, "aws-chunked") {
				continue
			}
			keep = append(keep, e)
		}
	}
	return strings.Join(keep, ",")
}

// payloadReader yields the decoded payload and checks it as it goes.
type payloadReader struct {
	src    io.Reader
	closer io.Closer
	dec    *chunkDecoder

	md5     hash.Hash
	wantMD5 []byte
	sha     hash.Hash
	wantSHA []byte

	ck        hash.Hash
	ckAlg     string
	ckWant    string
	ckTrailer bool

	expect int64
	n      int64
	err    error // sticky: the final error or io.EOF

	mu     sync.Mutex
	final  map[string]string
	md5hex string
}

func (p *payloadReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.src.Read(b)
	if n > 0 {
		chunk := b[:n]
		p.md5.Write(chunk)
		if p.sha != nil {
			p.sha.Write(chunk)
		}
		if p.ck != nil {
			p.ck.Write(chunk)
		}
		p.n += int64(n)
		if p.expect >= 0 && p.n > p.expect {
			p.err = errInvalidRequest("The decoded body is longer than x-amz-decoded-content-length or Content-Length.")
			return 0, p.err
		}
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		if ferr := p.finish(); ferr != nil {
			p.err = ferr
			// Hold back the last bytes: the caller must not keep them.
			return 0, ferr
		}
		p.err = io.EOF
		return n, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		p.err = errIncompleteBody(err)
		return 0, p.err
	default:
		var se *Error
		if errors.As(err, &se) {
			p.err = se
			return 0, se
		}
		// Other I/O errors (connection reset, http.MaxBytesError) are
		// passed on as they are; the body is unusable either way.
		p.err = err
		return n, err
	}
}

// finish runs the checks that need the whole body.
func (p *payloadReader) finish() *Error {
	if p.expect >= 0 && p.n < p.expect {
		return errIncompleteBody(nil)
	}
	if p.sha != nil {
		got := p.sha.Sum(nil)
		if !bytesEqual(got, p.wantSHA) {
			e := newErr(ErrCodeXAmzContentSHA256Mismatch, http.StatusBadRequest, "The provided 'x-amz-content-sha256' header does not match what was computed.")
			e.Extra = []Field{
				{"ClientComputedContentSHA256", hex.EncodeToString(p.wantSHA)},
				{"S3ComputedContentSHA256", hex.EncodeToString(got)},
			}
			return e
		}
	}
	sum := p.md5.Sum(nil)
	out := map[string]string{}
	if p.wantMD5 != nil {
		if !bytesEqual(sum, p.wantMD5) {
			e := newErr(ErrCodeBadDigest, http.StatusBadRequest, "The Content-MD5 you specified did not match what we received.")
			e.Extra = []Field{
				{"ExpectedDigest", base64.StdEncoding.EncodeToString(p.wantMD5)},
				{"CalculatedDigest", base64.StdEncoding.EncodeToString(sum)},
			}
			return e
		}
		out[ContentMD5] = hex.EncodeToString(sum)
	}
	if p.dec != nil {
		// A checksum trailer that x-amz-trailer did not announce was not
		// computed; refuse it rather than ignore it.
		for name := range p.dec.trailers {
			if _, ok := checksumAlgFromHeader(name); ok && (!p.ckTrailer || name != ChecksumHeader(p.ckAlg)) {
				return errInvalidRequest("The trailing header " + name + " was not announced in x-amz-trailer.")
			}
		}
	}
	if p.ckAlg != "" {
		want := p.ckWant
		if p.ckTrailer {
			v, ok := p.dec.trailers[ChecksumHeader(p.ckAlg)]
			if !ok {
				return errInvalidRequest("The trailing header " + ChecksumHeader(p.ckAlg) + " announced in x-amz-trailer is missing.")
			}
			if !validChecksumValue(p.ckAlg, v) {
				return newErr(ErrCodeBadDigest, http.StatusBadRequest, "The "+p.ckAlg+" you specified did not match the calculated checksum.")
			}
			want = v
		}
		got := base64.StdEncoding.EncodeToString(p.ck.Sum(nil))
		if got != want {
			return newErr(ErrCodeBadDigest, http.StatusBadRequest, "The "+p.ckAlg+" you specified did not match the calculated checksum.")
		}
		out[p.ckAlg] = want
	}
	p.mu.Lock()
	p.final = out
	p.md5hex = hex.EncodeToString(sum)
	p.mu.Unlock()
	return nil
}

func bytesEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := range a {
		d |= a[i] ^ b[i]
	}
	return d == 0
}

func (p *payloadReader) checksums() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]string, len(p.final))
	for k, v := range p.final {
		out[k] = v
	}
	return out
}

func (p *payloadReader) md5Hex() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.md5hex
}

func (p *payloadReader) Close() error {
	return p.closer.Close()
}

// hasQueryKey reports whether the raw query of r has parameter key.
func hasQueryKey(r *http.Request, key string) bool {
	for _, p := range parseRawQuery(rawQuery(r)) {
		if p.key == key {
			return true
		}
	}
	return false
}
