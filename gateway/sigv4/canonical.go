package sigv4

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

const upperHex = "0123456789ABCDEF"

// isUnreserved reports whether c is left as is by AWS's URI encoding
// (RFC 3986 unreserved characters).
func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// awsEncode percent-encodes s the way SigV4 requires: every byte except the
// unreserved characters becomes %XX with upper-case hex; '/' is kept when
// keepSlash is set.
func awsEncode(sb *strings.Builder, s string, keepSlash bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (keepSlash && c == '/') {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(upperHex[c>>4])
		sb.WriteByte(upperHex[c&15])
	}
}

// canonicalURI returns the canonical URI of an S3 request from the path as
// it was sent on the wire. S3 does not normalise paths and does not encode
// twice: every escape the client sent is decoded once and the byte is
// re-encoded by AWS's rules, so "%2f", "%2F" and an escaped unreserved
// character all canonicalise the way the client's signer wrote them, and a
// '/' sent escaped stays escaped.
func canonicalURI(escapedPath string) string {
	if escapedPath == "" {
		return "/"
	}
	var sb strings.Builder
	sb.Grow(len(escapedPath) + 16)
	for i := 0; i < len(escapedPath); i++ {
		c := escapedPath[i]
		if c == '%' && i+2 < len(escapedPath) {
			hi, ok1 := unhex(escapedPath[i+1])
			lo, ok2 := unhex(escapedPath[i+2])
			if ok1 && ok2 {
				b := hi<<4 | lo
				if isUnreserved(b) {
					sb.WriteByte(b)
				} else {
					sb.WriteByte('%')
					sb.WriteByte(upperHex[b>>4])
					sb.WriteByte(upperHex[b&15])
				}
				i += 2
				continue
			}
		}
		if isUnreserved(c) || c == '/' {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(upperHex[c>>4])
		sb.WriteByte(upperHex[c&15])
	}
	if sb.Len() == 0 || sb.String()[0] != '/' {
		return "/" + sb.String()
	}
	return sb.String()
}

// requestPath returns the path of r as the client sent it (still escaped).
func requestPath(r *http.Request) string {
	if r.URL == nil {
		return "/"
	}
	if r.URL.Opaque != "" {
		// "GET http://host/path" (absolute form) is parsed with the path
		// in Opaque by some callers; keep only the path.
		p := r.URL.Opaque
		if strings.HasPrefix(p, "//") {
			if i := strings.IndexByte(p[2:], '/'); i >= 0 {
				return p[2+i:]
			}
			return "/"
		}
		return p
	}
	return r.URL.EscapedPath()
}

// unescapeQuery decodes %XX escapes; '+' stays a literal '+' (SigV4 signers
// encode a space as %20). ok is false on a malformed escape.
func unescapeQuery(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), true
}

type queryParam struct{ key, value string }

// parseRawQuery splits a raw query string into decoded key/value pairs in
// the order they were sent. Parameters with a malformed escape are kept
// raw, the way a lenient client signer would have treated them.
func parseRawQuery(raw string) []queryParam {
	if raw == "" {
		return nil
	}
	params := make([]queryParam, 0, 4)
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, ok := unescapeQuery(k)
		if !ok {
			dk = k
		}
		dv, ok := unescapeQuery(v)
		if !ok {
			dv = v
		}
		params = append(params, queryParam{dk, dv})
	}
	return params
}

// canonicalQuery builds the canonical query string: every parameter
// except skip (the presigned signature), keys and values AWS-encoded,
// sorted by key and then value, "key=" for a parameter without value.
func canonicalQuery(params []queryParam, skip string) string {
	enc := make([]queryParam, 0, len(params))
	for _, p := range params {
		if skip != "" && p.key == skip {
			continue
		}
		var kb, vb strings.Builder
		awsEncode(&kb, p.key, false)
		awsEncode(&vb, p.value, false)
		enc = append(enc, queryParam{kb.String(), vb.String()})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].key != enc[j].key {
			return enc[i].key < enc[j].key
		}
		return enc[i].value < enc[j].value
	})
	var sb strings.Builder
	for i, p := range enc {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(p.key)
		sb.WriteByte('=')
		sb.WriteString(p.value)
	}
	return sb.String()
}

// foldSpaces trims a header value and collapses runs of spaces and tabs
// into one space, as SigV4 canonicalisation requires.
func foldSpaces(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") && !strings.ContainsAny(v, "\t\r\n") {
		return v
	}
	var sb strings.Builder
	sb.Grow(len(v))
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			if !space {
				sb.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		sb.WriteByte(c)
	}
	return sb.String()
}

// headerValue returns the canonical value of the signed header name
// (lower case) of r. Go's server moves Host, Content-Length and
// Transfer-Encoding out of r.Header; they are read back from the request.
func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		if r.Host != "" {
			return foldSpaces(r.Host)
		}
		if r.URL != nil {
			return r.URL.Host
		}
		return ""
	case "content-length":
		if vs, ok := r.Header["Content-Length"]; ok {
			return joinValues(vs)
		}
		if r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
		return ""
	case "transfer-encoding":
		if vs, ok := r.Header["Transfer-Encoding"]; ok {
			return joinValues(vs)
		}
		return strings.Join(r.TransferEncoding, ",")
	}
	return joinValues(r.Header.Values(name))
}

func joinValues(vs []string) string {
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return foldSpaces(vs[0])
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = foldSpaces(v)
	}
	return strings.Join(parts, ",")
}

// canonicalRequest assembles the SigV4 canonical request.
func canonicalRequest(r *http.Request, query []queryParam, skipQuery string, signedHeaders []string, payloadHash string) string {
	var sb strings.Builder
	sb.Grow(512)
	sb.WriteString(r.Method)
	sb.WriteByte('\n')
	sb.WriteString(canonicalURI(requestPath(r)))
	sb.WriteByte('\n')
	sb.WriteString(canonicalQuery(query, skipQuery))
	sb.WriteByte('\n')
	for _, h := range signedHeaders {
		sb.WriteString(h)
		sb.WriteByte(':')
		sb.WriteString(headerValue(r, h))
		sb.WriteByte('\n')
	}
	sb.WriteByte('\n')
	sb.WriteString(strings.Join(signedHeaders, ";"))
	sb.WriteByte('\n')
	sb.WriteString(payloadHash)
	return sb.String()
}
