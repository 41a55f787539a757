package s3xml

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeRequests feeds arbitrary bytes to the parsers of every XML
// request body the gateway accepts. They must never panic, and a body that
// parses must survive a marshal/parse round trip unchanged.
func FuzzDecodeRequests(f *testing.F) {
	f.Add([]byte(`<Delete><Quiet>true</Quiet><Object><Key>a</Key><VersionId>v</VersionId></Object></Delete>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>3</MaxAgeSeconds></CORSRule></CORSConfiguration>`))
	f.Add([]byte(`<AccessControlPolicy><Owner><ID>o</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>u</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>`))
	f.Add([]byte(`<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`))
	f.Add([]byte(`<CreateBucketConfiguration><LocationConstraint>eu</LocationConstraint></CreateBucketConfiguration>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		targets := []func() any{
			func() any { return new(Delete) },
			func() any { return new(CompleteMultipartUpload) },
			func() any { return new(CORSConfiguration) },
			func() any { return new(AccessControlPolicy) },
			func() any { return new(VersioningConfiguration) },
			func() any { return new(CreateBucketConfiguration) },
		}
		for _, mk := range targets {
			v := mk()
			if err := Decode(strings.NewReader(string(data)), v); err != nil {
				continue
			}
			out, err := xml.Marshal(v)
			if err != nil {
				continue // e.g. characters XML cannot carry
			}
			w := mk()
			if err := Decode(strings.NewReader(string(out)), w); err != nil {
				t.Fatalf("%T: re-parse of %q failed: %v", v, out, err)
			}
			again, _ := xml.Marshal(w)
			if string(again) != string(out) {
				t.Fatalf("%T: round trip changed %q into %q", v, out, again)
			}
		}
	})
}

func TestDecodeLimit(t *testing.T) {
	body := "<Delete>" + strings.Repeat("<Object><Key>k</Key></Object>", MaxBodySize/20) + "</Delete>"
	var d Delete
	if err := Decode(strings.NewReader(body), &d); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized body: %v", err)
	}
	if err := Decode(strings.NewReader("<Delete><Object>"), &d); err == nil {
		t.Fatal("truncated XML accepted")
	}
}
