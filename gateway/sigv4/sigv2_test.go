package sigv4

import (
	"bytes"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

func v2Verifier(now func() time.Time) *Verifier {
	return NewVerifier(Config{
		Credentials:        StaticCredentials{testAccessKey: testSecret},
		Region:             testRegion,
		Now:                now,
		VirtualHostDomains: []string{"s3.example.org"},
	})
}

func TestMinioSignV2(t *testing.T) {
	v := v2Verifier(nil)
	for _, key := range oddKeys {
		for _, q := range []string{"", "acl", "uploadId=u1&partNumber=2", "versionId=v1&response-content-type=text%2Fplain"} {
			body := []byte("v2 body " + key)
			req := sdkRequest(t, "PUT", "127.0.0.1:9000", key, q, body)
			req.Header.Set("Content-Type", "image/png")
			req.Header.Set("X-Amz-Meta-Owner", "alice  and  bob")
			req.Header.Set("X-Amz-Acl", "public-read")
			req = signer.SignV2(*req, testAccessKey, testSecret, false)
			res, err := v.Authenticate(wire(t, req))
			if err != nil {
				t.Fatalf("%s?%s: %v", key, q, err)
			}
			if !res.SigV2 || res.AccessKey != testAccessKey {
				t.Fatalf("result %+v", res)
			}
			if got, err := readAll(t, res); err != nil || !bytes.Equal(got, body) {
				t.Fatalf("body %q %v", got, err)
			}
		}
	}
	// Virtual-hosted style: the bucket comes from the configured domain.
	req := sdkRequest(t, "GET", "photos.s3.example.org:9000", "/cat.png", "", nil)
	req = signer.SignV2(*req, testAccessKey, testSecret, true)
	if _, err := v.Authenticate(wire(t, req)); err != nil {
		t.Fatalf("virtual host: %v", err)
	}
	// Tampering with a signed header.
	req = sdkRequest(t, "PUT", "127.0.0.1:9000", "/b/k", "", []byte("x"))
	req.Header.Set("X-Amz-Acl", "private")
	req = signer.SignV2(*req, testAccessKey, testSecret, false)
	r := wire(t, req)
	r.Header.Set("X-Amz-Acl", "public-read")
	_, err := v.Authenticate(r)
	wantCode(t, err, ErrCodeSignatureDoesNotMatch)
	// Wrong secret and unknown key.
	req = sdkRequest(t, "GET", "127.0.0.1:9000", "/b/k", "", nil)
	_, err = v.Authenticate(wire(t, signer.SignV2(*req, testAccessKey, "wrong", false)))
	wantCode(t, err, ErrCodeSignatureDoesNotMatch)
	_, err = v.Authenticate(wire(t, signer.SignV2(*req, "NOSUCHKEY", testSecret, false)))
	wantCode(t, err, ErrCodeInvalidAccessKeyID)
	// A Date out of the skew window.
	req = sdkRequest(t, "GET", "127.0.0.1:9000", "/b/k", "", nil)
	r = wire(t, signer.SignV2(*req, testAccessKey, testSecret, false))
	_, err = v2Verifier(func() time.Time { return time.Now().Add(20 * time.Minute) }).Authenticate(r)
	wantCode(t, err, ErrCodeRequestTimeTooSkewed)
	// Malformed.
	r.Header.Set("Authorization", "AWS "+testAccessKey)
	_, err = v.Authenticate(r)
	wantCode(t, err, ErrCodeInvalidArgument)
}

func TestMinioPreSignV2(t *testing.T) {
	v := v2Verifier(nil)
	for _, key := range oddKeys {
		q := url.Values{}
		q.Set("response-content-disposition", `attachment; filename="a b.txt"`)
		req := sdkRequest(t, "GET", "127.0.0.1:9000", key, q.Encode(), nil)
		req = signer.PreSignV2(*req, testAccessKey, testSecret, 600, false)
		res, err := v.Authenticate(wire(t, req))
		if err != nil {
			t.Fatalf("%s: %v (%s)", key, err, req.URL)
		}
		if !res.Presigned || !res.SigV2 {
			t.Fatalf("result %+v", res)
		}
		// A changed override breaks it.
		u := strings.Replace(req.URL.String(), "attachment", "inline", 1)
		_, err = v.Authenticate(httptest.NewRequest("GET", u, nil))
		wantCode(t, err, ErrCodeSignatureDoesNotMatch)
	}
	req := sdkRequest(t, "GET", "127.0.0.1:9000", "/b/k", "", nil)
	signed := signer.PreSignV2(*req, testAccessKey, testSecret, 60, false)
	_, err := v2Verifier(func() time.Time { return time.Now().Add(2 * time.Minute) }).Authenticate(wire(t, signed))
	e := wantCode(t, err, ErrCodeAccessDenied)
	if e.Message != "Request has expired" {
		t.Errorf("message %q", e.Message)
	}
	signed = signer.PreSignV2(*req, testAccessKey, testSecret, 8*24*3600, false)
	_, err = v.Authenticate(wire(t, signed))
	wantCode(t, err, ErrCodeAuthorizationQueryParametersError)
	u := "http://127.0.0.1:9000/b/k?AWSAccessKeyId=" + testAccessKey + "&Expires=soon&Signature=x"
	_, err = v.Authenticate(httptest.NewRequest("GET", u, nil))
	wantCode(t, err, ErrCodeAccessDenied)
	u = "http://127.0.0.1:9000/b/k?AWSAccessKeyId=" + testAccessKey + "&Expires=" + strconv.FormatInt(time.Now().Unix()+60, 10)
	_, err = v.Authenticate(httptest.NewRequest("GET", u, nil))
	wantCode(t, err, ErrCodeAccessDenied)
	// Header and query authentication together.
	r := httptest.NewRequest("GET", u+"&Signature=x", nil)
	r.Header.Set("Authorization", "AWS a:b")
	_, err = v.Authenticate(r)
	wantCode(t, err, ErrCodeInvalidArgument)
}

// TestAWSExamplesV2 checks the Signature Version 2 examples of AWS's
// "Authenticating requests (AWS signature version 2)" page, virtual-hosted
// and path style.
func TestAWSExamplesV2(t *testing.T) {
	for _, c := range []struct {
		method, target, date, sig string
		hdr                       map[string]string
	}{
		{"GET", "/photos/puppy.jpg", "Tue, 27 Mar 2007 19:36:42 +0000", "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=", nil},
		{"PUT", "/photos/puppy.jpg", "Tue, 27 Mar 2007 21:15:45 +0000", "iqRzw+ileNPu1fhspnRs8nOjjIA=", map[string]string{"Content-Type": "image/jpeg"}},
		{"GET", "/?prefix=photos&max-keys=50&marker=puppy", "Tue, 27 Mar 2007 19:42:41 +0000", "m0WP8eCtspQl5Ahe6L1SozdX9YA=", map[string]string{"User-Agent": "Mozilla/5.0"}},
	} {
		at, err := parseHTTPDate(c.date)
		if err != nil {
			t.Fatal(err)
		}
		v := NewVerifier(Config{
			Credentials:        StaticCredentials{exampleAccessKey: exampleSecret},
			Now:                func() time.Time { return at.Add(time.Minute) },
			VirtualHostDomains: []string{"us-west-1.s3.amazonaws.com"},
		})
		for _, u := range []string{
			"https://awsexamplebucket1.us-west-1.s3.amazonaws.com" + c.target,
			"https://example.com/awsexamplebucket1" + c.target,
		} {
			var body *bytes.Reader
			if c.method == "PUT" {
				body = bytes.NewReader(make([]byte, 94328))
			} else {
				body = bytes.NewReader(nil)
			}
			r := httptest.NewRequest(c.method, u, body)
			for k, val := range c.hdr {
				r.Header.Set(k, val)
			}
			r.Header.Set("Date", c.date)
			r.Header.Set("Authorization", "AWS "+exampleAccessKey+":"+c.sig)
			res, err := v.Authenticate(r)
			if err != nil {
				t.Errorf("%s %s: %v", c.method, u, err)
				continue
			}
			if !res.SigV2 || res.AccessKey != exampleAccessKey {
				t.Errorf("result %+v", res)
			}
			r.Header.Set("Date", strings.Replace(c.date, ":42 ", ":43 ", 1))
			r.Header.Set("Content-Type", "text/evil")
			if _, err := v.Authenticate(r); err == nil {
				t.Errorf("%s %s: accepted with another date/content type", c.method, u)
			}
		}
	}
}
