package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// PostSignature is the signature part of a browser POST upload form (an
// HTML form that uploads straight to a bucket): the base64 policy document
// as sent and the fields that sign it, either SigV4 (x-amz-algorithm,
// x-amz-credential, x-amz-date, x-amz-signature) or the legacy V2
// (AWSAccessKeyId, signature). Field values are as in the form.
type PostSignature struct {
	Policy string

	Algorithm  string
	Credential string
	Date       string
	Signature  string // x-amz-signature, hex

	AccessKeyID string
	SignatureV2 string // signature, base64
}

// V4 reports whether the form is signed with SigV4.
func (p PostSignature) V4() bool {
	return p.Algorithm != "" || p.Credential != "" || p.Signature != ""
}

// VerifyPost checks a browser POST form's signature of its policy and
// returns the access key that signed it. SigV4: the hex HMAC-SHA256 of the
// base64 policy under the signing key of the credential's scope (whose date
// must be x-amz-date's). V2: the base64 HMAC-SHA1 of the base64 policy
// under the secret key. The policy's own expiration and conditions are the
// caller's to check. Every error is an *Error.
func (v *Verifier) VerifyPost(p PostSignature) (string, error) {
	if p.Policy == "" {
		return "", errInvalidArgument("Bucket POST must contain a field named 'policy'. If it is specified, please check the order of the fields.")
	}
	if !p.V4() {
		if p.AccessKeyID == "" {
			return "", errInvalidArgument("Bucket POST must contain a field named 'AWSAccessKeyId'. If it is specified, please check the order of the fields.")
		}
		if p.SignatureV2 == "" {
			return "", errInvalidArgument("Bucket POST must contain a field named 'signature'. If it is specified, please check the order of the fields.")
		}
		secret, ok := v.creds.SecretKey(p.AccessKeyID)
		if !ok {
			return "", newErr(ErrCodeInvalidAccessKeyID, http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records.")
		}
		got, err := base64.StdEncoding.DecodeString(p.SignatureV2)
		m := hmac.New(sha1.New, []byte(secret))
		m.Write([]byte(p.Policy))
		if err != nil || !hmac.Equal(m.Sum(nil), got) {
			return "", errSignature()
		}
		return p.AccessKeyID, nil
	}
	if p.Algorithm != algorithmHMAC {
		return "", errInvalidArgument("X-Amz-Algorithm only supports \"" + algorithmHMAC + "\"")
	}
	for name, val := range map[string]string{"x-amz-credential": p.Credential, "x-amz-date": p.Date, "x-amz-signature": p.Signature} {
		if val == "" {
			return "", errInvalidArgument("Bucket POST must contain a field named '" + name + "'. If it is specified, please check the order of the fields.")
		}
	}
	var ap authParams
	if msg := v.parseCredential(p.Credential, &ap); msg != "" {
		return "", errInvalidArgument("Invalid credential: " + msg)
	}
	t, err := time.Parse(iso8601Format, p.Date)
	if err != nil {
		return "", errInvalidArgument("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	if t.Format(yyyymmdd) != ap.date {
		return "", errInvalidArgument("Invalid credential date \"" + ap.date + "\". This date is not the same as X-Amz-Date: \"" + t.Format(yyyymmdd) + "\".")
	}
	secret, ok := v.creds.SecretKey(ap.accessKey)
	if !ok {
		return "", newErr(ErrCodeInvalidAccessKeyID, http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records.")
	}
	want := hmacSHA256(signingKey(secret, ap.date, ap.region, ap.service), []byte(p.Policy))
	if !signatureEqual(want, strings.ToLower(p.Signature)) {
		return "", errSignature()
	}
	return ap.accessKey, nil
}

// SignPostV4 returns the x-amz-signature of a base64 policy for a SigV4
// POST form (for clients and tests).
func SignPostV4(secret, date, region, policy string) string {
	return hex.EncodeToString(hmacSHA256(signingKey(secret, date, region, service), []byte(policy)))
}
