package sigv4

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"strings"
)

const (
	// maxChunkLine bounds a chunk header or trailer line. A signed chunk
	// header is about 90 bytes; a trailer line well under 200.
	maxChunkLine = 4096
	// maxChunkSize bounds the size a chunk header may announce.
	maxChunkSize = 1 << 34
	// maxTrailerLines bounds the number of trailer lines.
	maxTrailerLines = 32
	chunkBufSize    = 64 << 10
)

type chunkState int

const (
	stHeader chunkState = iota
	stData
	stDone
)

// chunkDecoder removes aws-chunked framing:
//
//	hex-size[;chunk-signature=sig]\r\n data \r\n ... 0[;chunk-signature=sig]\r\n
//	[trailer-name:value\r\n ... [x-amz-trailer-signature:sig\r\n]] \r\n
//
// With a signer, every chunk signature (and the trailer signature) is
// verified, chained from the seed signature; the last bytes of a chunk are
// only released after its signature has been checked. io.EOF is returned
// only after the final chunk and the trailer section were read in full;
// every truncation is an IncompleteBody *Error.
type chunkDecoder struct {
	r       *bufio.Reader
	signer  *chunkSigner
	trailer bool

	state     chunkState
	remaining int64
	chunkSig  string
	sha       hash.Hash
	err       error

	trailers map[string]string // lower-case name -> value
}

func newChunkDecoder(r io.Reader, signer *chunkSigner, trailer bool) *chunkDecoder {
	d := &chunkDecoder{
		r:        bufio.NewReaderSize(r, chunkBufSize),
		signer:   signer,
		trailer:  trailer,
		trailers: map[string]string{},
	}
	if signer != nil {
		d.sha = sha256.New()
	}
	return d
}

// readLine reads one line without its "\r\n" (or bare "\n"). A line that
// ends at EOF without a terminator is a truncation.
func (d *chunkDecoder) readLine() (string, *Error) {
	line, err := d.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errMalformedChunk("line too long")
		}
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", errIncompleteBody(err)
		}
		return "", &Error{Code: ErrCodeIncompleteBody, Status: 400, Message: "Error reading the request body.", Err: err}
	}
	if len(line) > maxChunkLine {
		return "", errMalformedChunk("line too long")
	}
	s := string(line[:len(line)-1])
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}

func (d *chunkDecoder) Read(p []byte) (int, error) {
	for {
		if d.err != nil {
			return 0, d.err
		}
		switch d.state {
		case stDone:
			return 0, io.EOF
		case stHeader:
			if e := d.readHeader(); e != nil {
				d.err = e
			}
		case stData:
			if len(p) == 0 {
				return 0, nil
			}
			want := int64(len(p))
			if want > d.remaining {
				want = d.remaining
			}
			n, err := d.r.Read(p[:want])
			if n > 0 {
				if d.sha != nil {
					d.sha.Write(p[:n])
				}
				d.remaining -= int64(n)
				if d.remaining == 0 {
					if e := d.endChunk(); e != nil {
						d.err = e
						return 0, e
					}
				}
				return n, nil
			}
			if err == nil {
				continue
			}
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				d.err = errIncompleteBody(err)
			} else {
				d.err = &Error{Code: ErrCodeIncompleteBody, Status: 400, Message: "Error reading the request body.", Err: err}
			}
		}
	}
}

// readHeader parses "hex-size[;ext...]".
func (d *chunkDecoder) readHeader() *Error {
	line, e := d.readLine()
	if e != nil {
		return e
	}
	sizeStr, ext, _ := strings.Cut(line, ";")
	sizeStr = strings.TrimSpace(sizeStr)
	if sizeStr == "" || len(sizeStr) > 16 {
		return errMalformedChunk("bad chunk size")
	}
	var size int64
	for i := 0; i < len(sizeStr); i++ {
		h, ok := unhex(sizeStr[i])
		if !ok {
			return errMalformedChunk("bad chunk size")
		}
		size = size<<4 | int64(h)
		if size > maxChunkSize {
			return errMalformedChunk("chunk too large")
		}
	}
	if d.signer != nil {
		sig := ""
		for _, kv := range strings.Split(ext, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			if k == "chunk-signature" {
				sig = v
			}
		}
		if len(sig) != 64 {
			return errMalformedChunk("missing or malformed chunk-signature")
		}
		d.chunkSig = sig
		d.sha.Reset()
	}
	if size > 0 {
		d.remaining = size
		d.state = stData
		return nil
	}
	// Final chunk.
	if d.signer != nil && !d.signer.verifyChunk(d.sha.Sum(nil), d.chunkSig) {
		return errChunkSignature()
	}
	if d.trailer {
		if e := d.readTrailers(); e != nil {
			return e
		}
	} else {
		// The closing empty line. Its absence (EOF) loses nothing: the
		// data and the final chunk signature are complete.
		line, err := d.r.ReadSlice('\n')
		if err == nil {
			if s := strings.TrimRight(string(line), "\r\n"); s != "" {
				return errMalformedChunk("data after the final chunk")
			}
		} else if err != io.EOF || len(line) != 0 {
			if err == io.EOF {
				return errIncompleteBody(err)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				return errMalformedChunk("data after the final chunk")
			}
			return &Error{Code: ErrCodeIncompleteBody, Status: 400, Message: "Error reading the request body.", Err: err}
		}
	}
	d.state = stDone
	return nil
}

// endChunk consumes the CRLF after a chunk's data and checks its signature.
func (d *chunkDecoder) endChunk() *Error {
	line, e := d.readLine()
	if e != nil {
		return e
	}
	if line != "" {
		return errMalformedChunk("chunk data longer than its declared size")
	}
	if d.signer != nil && !d.signer.verifyChunk(d.sha.Sum(nil), d.chunkSig) {
		return errChunkSignature()
	}
	d.state = stHeader
	return nil
}

// readTrailers reads the trailer section after the final chunk. Signed
// trailers end with x-amz-trailer-signature, which covers the canonical
// "name:value\n" lines before it.
func (d *chunkDecoder) readTrailers() *Error {
	var canon strings.Builder
	for i := 0; ; i++ {
		if i > maxTrailerLines {
			return errMalformedChunk("too many trailer lines")
		}
		line, e := d.readLine()
		if e != nil {
			return e
		}
		if line == "" {
			if d.signer == nil {
				return nil
			}
			// Some signers put an empty line between the trailers and
			// the trailer signature; keep looking for the signature.
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return errMalformedChunk("malformed trailer line")
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if name == "" {
			return errMalformedChunk("malformed trailer line")
		}
		if name == "x-amz-trailer-signature" {
			if d.signer == nil {
				return errMalformedChunk("trailer signature in an unsigned payload")
			}
			sum := sha256.Sum256([]byte(canon.String()))
			if !d.signer.verifyTrailer(sum[:], value) {
				e := errSignature()
				e.Message = "The trailer signature we calculated does not match the signature you provided."
				return e
			}
			// The closing empty line may be missing; nothing follows
			// that the signature did not cover.
			line, err := d.r.ReadSlice('\n')
			if err == nil && strings.TrimRight(string(line), "\r\n") != "" {
				return errMalformedChunk("data after the trailer signature")
			}
			return nil
		}
		if _, dup := d.trailers[name]; dup {
			return errMalformedChunk("duplicate trailer " + name)
		}
		d.trailers[name] = value
		canon.WriteString(name)
		canon.WriteByte(':')
		canon.WriteString(value)
		canon.WriteByte('\n')
	}
}
