package sigv4

import (
	"bytes"
	"fmt"
	"testing"
)

// TestSigningKeyCache: remembered signing keys equal freshly derived ones
// for each secret and scope (no key of one secret or scope serves
// another), and the cache stays bounded however many scopes come.
func TestSigningKeyCache(t *testing.T) {
	v := NewVerifier(Config{Credentials: StaticCredentials{}, Region: testRegion})
	for round := range 2 {
		for _, secret := range []string{"s1", "s2"} {
			for _, date := range []string{"20260304", "20260305"} {
				got := v.signingKey(secret, date, testRegion, "s3")
				if want := signingKey(secret, date, testRegion, "s3"); !bytes.Equal(got, want) {
					t.Fatalf("round %d, %s %s: remembered key differs", round, secret, date)
				}
			}
		}
	}
	if bytes.Equal(v.signingKey("s1", "20260304", testRegion, "s3"), v.signingKey("s2", "20260304", testRegion, "s3")) {
		t.Fatal("two secrets, one key")
	}
	for i := range 3 * maxKeys {
		v.signingKey("s1", fmt.Sprintf("2026%04d", i), testRegion, "s3")
		if len(v.keys) > maxKeys {
			t.Fatalf("%d keys remembered, bound %d", len(v.keys), maxKeys)
		}
	}
}
