package s3

import (
	"strings"
	"testing"
)

// TestDecideOrder is the evaluation order of AWS for a request to a
// bucket, one row per rule of decide: explicit Deny first (owner
// included, except on the policy itself), policy operations owner-only,
// the owner's account, policy Allow (not when public and the bucket
// restricts public buckets), then the ACL (not when ACLs are disabled).
func TestDecideOrder(t *testing.T) {
	for _, c := range []struct {
		name string
		f    accessFacts
		want bool
	}{
		{"nothing grants", accessFacts{}, false},
		{"ACL grants", accessFacts{ACL: true}, true},
		{"ACL grants, ACLs disabled", accessFacts{ACL: true, ACLsDisabled: true}, false},
		{"owner", accessFacts{Owner: true}, true},
		{"owner, ACLs disabled", accessFacts{Owner: true, ACLsDisabled: true}, true},
		{"explicit deny beats owner", accessFacts{Owner: true, Policy: effectDeny}, false},
		{"explicit deny beats ACL", accessFacts{ACL: true, Policy: effectDeny}, false},
		{"explicit deny beats public allow", accessFacts{Policy: effectDeny, PublicPolicy: true}, false},
		{"owner may fix a policy that denies all", accessFacts{Owner: true, Policy: effectDeny, PolicyAdmin: true}, true},
		{"policy operations are the owner's", accessFacts{Policy: effectAllow, PolicyAdmin: true}, false},
		{"policy operations, ACL", accessFacts{ACL: true, PolicyAdmin: true}, false},
		{"policy allow", accessFacts{Policy: effectAllow}, true},
		{"policy allow, ACLs disabled", accessFacts{Policy: effectAllow, ACLsDisabled: true}, true},
		{"public policy allow", accessFacts{Policy: effectAllow, PublicPolicy: true}, true},
		{"public policy allow, restrict public buckets", accessFacts{Policy: effectAllow, PublicPolicy: true, RestrictPublic: true}, false},
		{"restrict public buckets, owner", accessFacts{Owner: true, Policy: effectAllow, PublicPolicy: true, RestrictPublic: true}, true},
		{"non-public policy allow, restrict public buckets", accessFacts{Policy: effectAllow, RestrictPublic: true}, true},
		{"restrict public buckets leaves the ACL", accessFacts{ACL: true, PublicPolicy: true, RestrictPublic: true}, true},
	} {
		if got := decide(c.f); got != c.want {
			t.Errorf("%s: %+v -> %v, want %v", c.name, c.f, got, c.want)
		}
	}
}

// TestPolicyEvaluate: principals, actions, resources with wildcards and
// the condition operators, each against matching and non-matching
// requests.
func TestPolicyEvaluate(t *testing.T) {
	p, err := parsePolicy(`{"Version":"2012-10-17","Statement":[
	 {"Sid":"read","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"},
	 {"Sid":"noprivate","Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":"arn:aws:s3:::media/private/*"},
	 {"Sid":"alt","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::alt-user:root"]},"Action":["s3:PutObject","s3:List*"],"Resource":["arn:aws:s3:::media","arn:aws:s3:::media/up/*"]},
	 {"Sid":"tls","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::media/*","Condition":{"Bool":{"aws:SecureTransport":"false"},"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","::1"]}}},
	 {"Sid":"prefix","Effect":"Allow","Principal":{"CanonicalUser":"lister"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::media","Condition":{"StringLike":{"s3:prefix":"pub/*"},"NumericLessThanEquals":{"s3:max-keys":"100"}}}
	]}`, "media")
	if err != nil {
		t.Fatal(err)
	}
	ctx := func(kv ...string) map[string][]string {
		m := map[string][]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[strings.ToLower(kv[i])] = []string{kv[i+1]}
		}
		return m
	}
	for _, c := range []struct {
		name string
		r    accessRequest
		want effect
	}{
		{"anonymous read", accessRequest{"", "s3:GetObject", "arn:aws:s3:::media/a.png", ctx()}, effectAllow},
		{"anonymous read of the bucket ARN", accessRequest{"", "s3:GetObject", "arn:aws:s3:::media", ctx()}, effectNone},
		{"anonymous write", accessRequest{"", "s3:PutObject", "arn:aws:s3:::media/a.png", ctx("aws:SecureTransport", "true")}, effectNone},
		{"deny prefix", accessRequest{"", "s3:GetObject", "arn:aws:s3:::media/private/x", ctx()}, effectDeny},
		{"deny prefix, account", accessRequest{"alt-user", "s3:GetObject", "arn:aws:s3:::media/private/x", ctx()}, effectDeny},
		{"alt put", accessRequest{"alt-user", "s3:PutObject", "arn:aws:s3:::media/up/f", ctx("aws:SecureTransport", "true")}, effectAllow},
		{"alt put elsewhere", accessRequest{"alt-user", "s3:PutObject", "arn:aws:s3:::media/other/f", ctx("aws:SecureTransport", "true")}, effectNone},
		{"alt list (wildcard action)", accessRequest{"alt-user", "s3:ListBucket", "arn:aws:s3:::media", ctx()}, effectAllow},
		{"other account put", accessRequest{"other", "s3:PutObject", "arn:aws:s3:::media/up/f", ctx("aws:SecureTransport", "true")}, effectNone},
		{"plain http from outside", accessRequest{"alt-user", "s3:PutObject", "arn:aws:s3:::media/up/f", ctx("aws:SecureTransport", "false", "aws:SourceIp", "192.0.2.1")}, effectDeny},
		{"plain http from 10/8", accessRequest{"alt-user", "s3:PutObject", "arn:aws:s3:::media/up/f", ctx("aws:SecureTransport", "false", "aws:SourceIp", "10.1.2.3")}, effectAllow},
		{"plain http from ::1", accessRequest{"alt-user", "s3:PutObject", "arn:aws:s3:::media/up/f", ctx("aws:SecureTransport", "false", "aws:SourceIp", "::1")}, effectAllow},
		{"prefix list", accessRequest{"lister", "s3:ListBucket", "arn:aws:s3:::media", ctx("s3:prefix", "pub/2024", "s3:max-keys", "50")}, effectAllow},
		{"prefix list, other prefix", accessRequest{"lister", "s3:ListBucket", "arn:aws:s3:::media", ctx("s3:prefix", "priv/", "s3:max-keys", "50")}, effectNone},
		{"prefix list, too many keys", accessRequest{"lister", "s3:ListBucket", "arn:aws:s3:::media", ctx("s3:prefix", "pub/", "s3:max-keys", "1000")}, effectNone},
		{"prefix list, no prefix", accessRequest{"lister", "s3:ListBucket", "arn:aws:s3:::media", ctx("s3:max-keys", "5")}, effectNone},
	} {
		if got, _ := p.evaluate(c.r); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if !policyIsPublic(p) {
		t.Error("policy with an unconditional Allow to * not public")
	}
	q, _ := parsePolicy(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}`, "media")
	if q == nil || policyIsPublic(q) {
		t.Error("Allow narrowed to a source IP taken as public")
	}
}

// TestPolicyMalformed: invalid policies are refused with MalformedPolicy
// and a reason.
func TestPolicyMalformed(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":           `{"Statement":`,
		"no statement":       `{"Version":"2012-10-17"}`,
		"bad version":        `{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
		"bad effect":         `{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
		"no principal":       `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
		"bad action":         `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"arn:aws:s3:::b/*"}]}`,
		"other bucket":       `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}`,
		"not an ARN":         `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"b/*"}]}`,
		"unknown condition":  `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"Sometimes":{"aws:SourceIp":"1.2.3.4"}}}]}`,
		"bad IP":             `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"1.2.3.400"}}}]}`,
		"empty statements":   `{"Statement":[]}`,
		"principal not star": `{"Statement":[{"Effect":"Allow","Principal":"everyone","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
	} {
		_, err := parsePolicy(doc, "b")
		if err == nil || !strings.Contains(err.Error(), "MalformedPolicy") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
