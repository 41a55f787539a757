package s3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/datdot/datdot/gateway/s3err"
)

// Bucket policies: the subset of AWS's policy language that deployments
// use. A policy is parsed and validated when it is put (MalformedPolicy
// with a reason otherwise) and again, from its stored text, when a request
// is evaluated (parsed policies are cached by text).

// maxPolicySize is S3's limit on a bucket policy (20 KiB).
const maxPolicySize = 20 << 10

type policy struct {
	Statements []statement
}

type statement struct {
	Sid         string
	Allow       bool
	Principals  []string // "*" or account ids
	Actions     []string // patterns, lower case
	NotActions  []string
	Resources   []string // ARN patterns
	NotResource []string
	Conditions  []condition
}

type condition struct {
	op       string // base operator, e.g. StringLike
	ifExists bool
	key      string // lower case
	values   []string
}

// stringOrList decodes a JSON string or array of strings.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var l []any
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		for _, v := range l {
			*s = append(*s, scalar(v))
		}
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if _, ok := v.(map[string]any); ok {
		return fmt.Errorf("expected a string or a list")
	}
	*s = stringOrList{scalar(v)}
	return nil
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

type rawStatement struct {
	Sid          string                             `json:"Sid"`
	Effect       string                             `json:"Effect"`
	Principal    json.RawMessage                    `json:"Principal"`
	NotPrincipal json.RawMessage                    `json:"NotPrincipal"`
	Action       stringOrList                       `json:"Action"`
	NotAction    stringOrList                       `json:"NotAction"`
	Resource     stringOrList                       `json:"Resource"`
	NotResource  stringOrList                       `json:"NotResource"`
	Condition    map[string]map[string]stringOrList `json:"Condition"`
}

type rawPolicy struct {
	Version   string          `json:"Version"`
	ID        string          `json:"Id"`
	Statement json.RawMessage `json:"Statement"`
}

func malformed(reason string) error {
	return &s3err.Error{Code: "MalformedPolicy", Status: 400, Message: reason}
}

// conditionOps are the condition operators understood.
var conditionOps = map[string]bool{
	"StringEquals": true, "StringNotEquals": true, "StringEqualsIgnoreCase": true, "StringNotEqualsIgnoreCase": true,
	"StringLike": true, "StringNotLike": true,
	"NumericEquals": true, "NumericNotEquals": true, "NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"DateEquals": true, "DateNotEquals": true, "DateLessThan": true, "DateLessThanEquals": true,
	"DateGreaterThan": true, "DateGreaterThanEquals": true,
	"Bool": true, "IpAddress": true, "NotIpAddress": true, "ArnEquals": true, "ArnLike": true,
	"ArnNotEquals": true, "ArnNotLike": true, "Null": true,
}

// parsePolicy parses and validates a policy for bucket.
func parsePolicy(text, bucket string) (*policy, error) {
	if len(text) > maxPolicySize {
		return nil, malformed("Policies must be no larger than 20480 bytes")
	}
	var rp rawPolicy
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&rp); err != nil {
		return nil, malformed("Policies must be valid JSON and the first byte must be '{'")
	}
	if rp.Version != "" && rp.Version != "2012-10-17" && rp.Version != "2008-10-17" {
		return nil, malformed("The policy must contain a valid version string")
	}
	var raws []rawStatement
	st := bytes.TrimSpace(rp.Statement)
	switch {
	case len(st) == 0 || string(st) == "null":
		return nil, malformed("Missing required field Statement")
	case st[0] == '[':
		if err := json.Unmarshal(st, &raws); err != nil {
			return nil, malformed("Statement is not valid: " + err.Error())
		}
	default:
		var one rawStatement
		if err := json.Unmarshal(st, &one); err != nil {
			return nil, malformed("Statement is not valid: " + err.Error())
		}
		raws = []rawStatement{one}
	}
	if len(raws) == 0 {
		return nil, malformed("Could not parse the policy: Statement is empty!")
	}
	p := &policy{}
	for _, r := range raws {
		s, err := parseStatement(r, bucket)
		if err != nil {
			return nil, err
		}
		p.Statements = append(p.Statements, s)
	}
	return p, nil
}

func parseStatement(r rawStatement, bucket string) (statement, error) {
	s := statement{Sid: r.Sid}
	switch r.Effect {
	case "Allow":
		s.Allow = true
	case "Deny":
	default:
		return s, malformed("Invalid effect: " + r.Effect)
	}
	if len(r.NotPrincipal) > 0 {
		return s, malformed("NotPrincipal is not supported")
	}
	if len(r.Principal) == 0 {
		return s, malformed("Missing required field Principal")
	}
	princ, err := parsePrincipal(r.Principal)
	if err != nil {
		return s, err
	}
	s.Principals = princ
	if len(r.Action) == 0 && len(r.NotAction) == 0 {
		return s, malformed("Missing required field Action")
	}
	for _, a := range append(append([]string(nil), r.Action...), r.NotAction...) {
		if a != "*" && !strings.HasPrefix(strings.ToLower(a), "s3:") {
			return s, malformed("Policy has invalid action")
		}
	}
	for _, a := range r.Action {
		s.Actions = append(s.Actions, strings.ToLower(a))
	}
	for _, a := range r.NotAction {
		s.NotActions = append(s.NotActions, strings.ToLower(a))
	}
	if len(r.Resource) == 0 && len(r.NotResource) == 0 {
		return s, malformed("Missing required field Resource")
	}
	for _, res := range append(append([]string(nil), r.Resource...), r.NotResource...) {
		if res == "*" {
			continue
		}
		rest, ok := strings.CutPrefix(res, "arn:aws:s3:::")
		if !ok {
			return s, malformed("Policy has invalid resource")
		}
		b, _, _ := strings.Cut(rest, "/")
		// The resource must be in this bucket (a wildcard may cover it).
		if m, _ := path.Match(b, bucket); !m && !wildMatch(b, bucket) {
			return s, malformed("Policy has invalid resource")
		}
	}
	s.Resources, s.NotResource = r.Resource, r.NotResource
	for op, kv := range r.Condition {
		base, ifExists := strings.CutSuffix(op, "IfExists")
		base = strings.TrimPrefix(strings.TrimPrefix(base, "ForAnyValue:"), "ForAllValues:")
		if !conditionOps[base] {
			return s, malformed("Invalid Condition type : " + op)
		}
		for k, vals := range kv {
			c := condition{op: base, ifExists: ifExists, key: strings.ToLower(k), values: vals}
			if base == "IpAddress" || base == "NotIpAddress" {
				for _, v := range vals {
					if _, err := parsePrefix(v); err != nil {
						return s, malformed("Invalid IP address or CIDR: " + v)
					}
				}
			}
			s.Conditions = append(s.Conditions, c)
		}
	}
	return s, nil
}

// parsePrincipal accepts "*", {"AWS": ...} and {"CanonicalUser": ...}.
func parsePrincipal(raw json.RawMessage) ([]string, error) {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return nil, malformed("Invalid principal in policy")
		}
		return []string{"*"}, nil
	}
	var m map[string]stringOrList
	if err := json.Unmarshal(raw, &m); err != nil || len(m) == 0 {
		return nil, malformed("Invalid principal in policy")
	}
	var out []string
	for kind, ids := range m {
		if kind != "AWS" && kind != "CanonicalUser" {
			return nil, malformed("Invalid principal in policy")
		}
		for _, id := range ids {
			// arn:aws:iam::ID:root and arn:aws:iam::ID:user/... name
			// account ID.
			if rest, ok := strings.CutPrefix(id, "arn:aws:iam::"); ok {
				acct, _, _ := strings.Cut(rest, ":")
				id = acct
			}
			if id == "" {
				return nil, malformed("Invalid principal in policy")
			}
			out = append(out, id)
		}
	}
	return out, nil
}

func parsePrefix(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		return netip.ParsePrefix(v)
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// wildMatch matches s against a pattern with * (any run) and ? (one
// character), as policies use them; case sensitive.
func wildMatch(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildMatch(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			s, pattern = s[1:], pattern[1:]
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
			s, pattern = s[1:], pattern[1:]
		}
	}
	return s == ""
}

// accessRequest is what a policy is evaluated against.
type accessRequest struct {
	Principal string // account id; "" for anonymous
	Action    string // e.g. "s3:GetObject"
	Resource  string // arn:aws:s3:::bucket[/key]
	// Context holds condition keys (lower case) and their values.
	Context map[string][]string
}

// effect of a policy on a request.
type effect int

const (
	effectNone effect = iota
	effectAllow
	effectDeny
)

// evaluate returns Deny if any statement denies, else Allow if any allows,
// else None; publicAllow reports whether an Allow came from a statement
// open to everyone (Principal "*").
func (p *policy) evaluate(r accessRequest) (eff effect, publicAllow bool) {
	if p == nil {
		return effectNone, false
	}
	for _, s := range p.Statements {
		if !s.matches(r) {
			continue
		}
		if !s.Allow {
			return effectDeny, false
		}
		eff = effectAllow
		if s.isPublic() {
			publicAllow = true
		}
	}
	return eff, publicAllow
}

func (s *statement) isPublic() bool {
	for _, p := range s.Principals {
		if p == "*" {
			return true
		}
	}
	return false
}

func (s *statement) matches(r accessRequest) bool {
	princ := false
	for _, p := range s.Principals {
		if p == "*" || r.Principal != "" && p == r.Principal {
			princ = true
			break
		}
	}
	if !princ {
		return false
	}
	act := strings.ToLower(r.Action)
	if len(s.Actions) > 0 && !anyWild(s.Actions, act) {
		return false
	}
	if len(s.NotActions) > 0 && anyWild(s.NotActions, act) {
		return false
	}
	if len(s.Resources) > 0 && !anyWild(s.Resources, r.Resource) {
		return false
	}
	if len(s.NotResource) > 0 && anyWild(s.NotResource, r.Resource) {
		return false
	}
	for _, c := range s.Conditions {
		if !c.holds(r.Context) {
			return false
		}
	}
	return true
}

func anyWild(patterns []string, s string) bool {
	for _, p := range patterns {
		if wildMatch(p, s) {
			return true
		}
	}
	return false
}

// holds evaluates one condition key against the request context: true if
// any value of the request matches any value of the condition (negated
// operators: none matches).
func (c condition) holds(ctx map[string][]string) bool {
	have, ok := ctx[c.key]
	if c.op == "Null" {
		want := len(c.values) > 0 && strings.EqualFold(c.values[0], "true")
		return want == !ok
	}
	if !ok {
		return c.ifExists
	}
	negated := strings.Contains(c.op, "Not")
	for _, h := range have {
		for _, v := range c.values {
			if c.match(h, v) {
				return !negated
			}
		}
	}
	return negated
}

// match compares one request value with one condition value under the
// operator, ignoring negation.
func (c condition) match(have, want string) bool {
	switch c.op {
	case "StringEquals", "StringNotEquals":
		return have == want
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		return strings.EqualFold(have, want)
	case "StringLike", "StringNotLike", "ArnLike", "ArnNotLike":
		return wildMatch(want, have)
	case "ArnEquals", "ArnNotEquals":
		return have == want
	case "Bool":
		return strings.EqualFold(have, want)
	case "IpAddress", "NotIpAddress":
		pfx, err := parsePrefix(want)
		a, err2 := netip.ParseAddr(have)
		return err == nil && err2 == nil && pfx.Contains(a.Unmap())
	}
	if strings.HasPrefix(c.op, "Numeric") {
		h, err1 := strconv.ParseFloat(have, 64)
		w, err2 := strconv.ParseFloat(want, 64)
		return err1 == nil && err2 == nil && compare(c.op, h, w)
	}
	if strings.HasPrefix(c.op, "Date") {
		h, err1 := time.Parse(time.RFC3339, have)
		w, err2 := time.Parse(time.RFC3339, want)
		return err1 == nil && err2 == nil && compare(c.op, float64(h.Unix()), float64(w.Unix()))
	}
	return false
}

func compare(op string, h, w float64) bool {
	switch {
	case strings.HasSuffix(op, "LessThanEquals"):
		return h <= w
	case strings.HasSuffix(op, "LessThan"):
		return h < w
	case strings.HasSuffix(op, "GreaterThanEquals"):
		return h >= w
	case strings.HasSuffix(op, "GreaterThan"):
		return h > w
	}
	return h == w // Equals, NotEquals (negated by the caller)
}

// policyIsPublic reports whether a policy grants anything to everyone
// without a condition that narrows who (as S3's policy status judges:
// conditions on source IP, account or VPC make it non-public).
func policyIsPublic(p *policy) bool {
	for _, s := range p.Statements {
		if !s.Allow || !s.isPublic() {
			continue
		}
		narrowed := false
		for _, c := range s.Conditions {
			switch c.key {
			case "aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:principalaccount", "aws:sourceaccount",
				"aws:principalorgid", "aws:userid", "aws:sourcearn", "aws:sourceowner":
				narrowed = true
			}
		}
		if !narrowed {
			return true
		}
	}
	return false
}
