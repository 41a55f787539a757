package s3

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/store"
)

var corsMethods = map[string]bool{"GET": true, "PUT": true, "HEAD": true, "POST": true, "DELETE": true}

// wildcardMatch matches s against a pattern in which '*' stands for any
// run of characters (case-insensitive, as origins and headers are).
func wildcardMatch(pattern, s string) bool {
	pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

// matchCORS returns the first rule that allows origin, method and every
// requested header.
func matchCORS(rules []store.CORSRule, origin, method string, headers []string) *store.CORSRule {
	for i := range rules {
		r := &rules[i]
		if !matchAny(r.AllowedOrigins, origin) {
			continue
		}
		ok := false
		for _, m := range r.AllowedMethods {
			if m == method {
				ok = true
			}
		}
		if !ok {
			continue
		}
		for _, h := range headers {
			if h = strings.TrimSpace(h); h != "" && !matchAny(r.AllowedHeaders, h) {
				ok = false
			}
		}
		if ok {
			return r
		}
	}
	return nil
}

// setCORS writes the Access-Control-* headers for a matched rule.
func setCORS(h http.Header, r *store.CORSRule, origin, method string) {
	allowOrigin := origin
	for _, o := range r.AllowedOrigins {
		if o == "*" {
			allowOrigin = "*"
		}
	}
	h.Set("Access-Control-Allow-Origin", allowOrigin)
	if allowOrigin != "*" {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(r.AllowedMethods, ", "))
	if len(r.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(r.ExposeHeaders, ", "))
	}
	if r.MaxAgeSeconds > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(r.MaxAgeSeconds))
	}
	h.Add("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
}

// corsHeaders adds CORS response headers to a request that carries Origin,
// before it is served, so that error responses carry them too (browsers
// otherwise hide the error from the page).
func (q *request) corsHeaders() {
	origin := q.r.Header.Get("Origin")
	if origin == "" || q.bucket == "" {
		return
	}
	b, err := q.s.cfg.Meta.GetBucket(q.ctx, q.bucket)
	if err != nil || len(b.CORS) == 0 {
		return
	}
	method := q.r.Method
	if m := q.r.Header.Get("Access-Control-Request-Method"); m != "" {
		method = m
	}
	if r := matchCORS(b.CORS, origin, method, nil); r != nil {
		setCORS(q.w.Header(), r, origin, method)
	}
}

// preflight answers a CORS preflight OPTIONS request (unauthenticated).
func (q *request) preflight() {
	origin := q.r.Header.Get("Origin")
	method := q.r.Header.Get("Access-Control-Request-Method")
	if q.bucket == "" {
		q.fail(s3err.MethodNotAllowed)
		return
	}
	b, err := q.s.cfg.Meta.GetBucket(q.ctx, q.bucket)
	if err != nil {
		q.fail(err)
		return
	}
	if origin == "" {
		q.fail(s3err.InvalidRequest.With("Insufficient information. Origin request header needed."))
		return
	}
	if method == "" || !corsMethods[method] {
		q.fail(s3err.InvalidRequest.With("Invalid Access-Control-Request-Method: " + method))
		return
	}
	var headers []string
	if v := q.r.Header.Get("Access-Control-Request-Headers"); v != "" {
		headers = strings.Split(v, ",")
	}
	r := matchCORS(b.CORS, origin, method, headers)
	if r == nil {
		q.fail(s3err.CORSForbidden)
		return
	}
	h := q.w.Header()
	setCORS(h, r, origin, method)
	h.Set("Access-Control-Allow-Methods", method)
	if len(headers) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(trimAll(headers), ", "))
	}
	q.w.WriteHeader(http.StatusOK)
}

func trimAll(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (q *request) putCORS() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	var cfg s3xml.CORSConfiguration
	if err := q.decodeXML(&cfg); err != nil {
		return err
	}
	if len(cfg.Rules) == 0 || len(cfg.Rules) > 100 {
		return s3err.MalformedXML
	}
	rules := make([]store.CORSRule, 0, len(cfg.Rules))
	for _, r := range cfg.Rules {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 {
			return s3err.MalformedXML
		}
		for _, m := range r.AllowedMethods {
			if !corsMethods[m] {
				return s3err.InvalidRequest.With("Found unsupported HTTP method in CORS config. Unsupported method is " + m)
			}
		}
		for _, o := range r.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return s3err.InvalidRequest.With("AllowedOrigin \"" + o + "\" can not have more than one wildcard.")
			}
		}
		rule := store.CORSRule{ID: r.ID, AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods, AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposeHeaders}
		if r.MaxAgeSeconds != nil {
			rule.MaxAgeSeconds = *r.MaxAgeSeconds
		}
		rules = append(rules, rule)
	}
	err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.CORS = rules
		return nil
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (q *request) getCORS() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	if len(b.CORS) == 0 {
		return s3err.NoSuchCORSConfiguration
	}
	out := s3xml.CORSConfiguration{Xmlns: s3xml.NS}
	for _, r := range b.CORS {
		x := s3xml.CORSRule{ID: r.ID, AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods, AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposeHeaders}
		if r.MaxAgeSeconds > 0 {
			age := r.MaxAgeSeconds
			x.MaxAgeSeconds = &age
		}
		out.Rules = append(out.Rules, x)
	}
	q.writeXML(out)
	return nil
}

func (q *request) deleteCORS() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.CORS = nil
		return nil
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
