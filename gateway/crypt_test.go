package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
)

// plainText is recognisable: any 32-byte window of it found on disk means
// plaintext leaked.
func plainText(n int) []byte {
	line := []byte("DatDot plaintext marker: the quick brown fox jumps over the lazy dog.\n")
	out := make([]byte, 0, n+len(line))
	for len(out) < n {
		out = append(out, line...)
	}
	return out[:n]
}

// TestEncryptedAtRest: with an encrypting store, objects read back
// byte-identical, no file under the data directory holds their plaintext,
// and once an object is deleted its wrapped key is in no live metadata
// record.
func TestEncryptedAtRest(t *testing.T) {
	g := startGatewayWith(t, func(b store.BlobStore) store.BlobStore {
		c, err := crypt.New(b, bytes.Repeat([]byte{42}, 32))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}, 0)
	c := g.client(0, true)
	b := aws.String("secret")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	small, big := plainText(1000), plainText(3<<20+17)
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("small"), Body: bytes.NewReader(small)}))
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("big"), Body: bytes.NewReader(big)}))
	for key, want := range map[string][]byte{"small": small, "big": big} {
		out := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String(key)}))
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, key, got, want)
	}
	rng := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("big"), Range: aws.String("bytes=65500-200000")}))
	got, _ := io.ReadAll(rng.Body)
	rng.Body.Close()
	mustEqual(t, "range across segments", got, big[65500:200001])

	marker := small[:32]
	filepath.WalkDir(g.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(p)
		if bytes.Contains(data, marker) {
			t.Errorf("plaintext found in %s", p)
		}
		return nil
	})

	obj, err := g.meta.GetObject(ctx, "secret", "small", "")
	if err != nil {
		t.Fatal(err)
	}
	wrapped := obj.Parts[0].Blob.Crypt.Wrapped
	wrappedJSON, _ := json.Marshal(wrapped) // base64, as stored
	bo, err := g.meta.GetObject(ctx, "secret", "big", "")
	if err != nil {
		t.Fatal(err)
	}
	bigWrapped := bo.Parts[0].Blob.Crypt.Wrapped
	must[*s3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("small")}))
	g.srv.Close()
	g.meta.Close()
	db, err := bolt.Open(filepath.Join(g.dir, "meta.db"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bigObj, _ := json.Marshal(bigWrapped)
	if !inRecords(t, db, bigObj) {
		t.Fatal("the live object's wrapped key is not found: the search is broken")
	}
	if inRecords(t, db, wrappedJSON) {
		t.Fatal("the deleted object's wrapped key is still in a metadata record")
	}
}

// inRecords reports whether a JSON value's content (a base64 string) is in
// any value of the database.
func inRecords(t *testing.T, db *bolt.DB, jsonValue []byte) bool {
	t.Helper()
	needle := jsonValue[1 : len(jsonValue)-1]
	found := false
	var walk func(bk *bolt.Bucket)
	walk = func(bk *bolt.Bucket) {
		bk.ForEach(func(k, v []byte) error {
			if v == nil {
				walk(bk.Bucket(k))
			} else if bytes.Contains(v, needle) {
				found = true
			}
			return nil
		})
	}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, bk *bolt.Bucket) error { walk(bk); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
