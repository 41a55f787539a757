package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
)

// rawGet GETs an object with a plain signed request (no SDK checksum
// validation): the status and what the body read gave.
func (g *testGateway) rawGet(t *testing.T, bucket, key string) (int, []byte, error) {
	t.Helper()
	req, err := http.NewRequest("GET", g.url+"/"+bucket+"/"+key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := newSigner()(req, testKeys[0].AccessKey, testKeys[0].SecretKey); err != nil {
		t.Fatal(err)
	}
	resp, err := g.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(resp.Body)
	return resp.StatusCode, body, rerr
}

func (g *testGateway) blobPath(id string) string {
	return filepath.Join(g.dir, "blobs", id[:2], id)
}

// TestReadChecksData is issue 9 #3: a single-part blob truncated on disk,
// and a multipart object whose later part's file is gone, answer 500
// before any byte (they gave 200 and a body that broke off), and bit rot
// in an object with a stored CRC never reaches the client as a complete
// 200 body.
func TestReadChecksData(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b := aws.String("rot")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))

	// Truncated single-part blob: the last 10 bytes are gone.
	data := randBytes(300 << 10)
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("short"), Body: bytes.NewReader(data)}))
	obj, err := g.meta.GetObject(ctx, "rot", "short", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(g.blobPath(obj.Parts[0].Blob.ID), int64(len(data)-10)); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := g.rawGet(t, "rot", "short"); status != 500 {
		t.Fatalf("truncated blob: status %d, %d bytes", status, len(body))
	}

	// Multipart, second part's file missing.
	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp")}))
	var parts []types.CompletedPart
	for i := int32(1); i <= 2; i++ {
		p := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
			PartNumber: aws.Int32(i), Body: bytes.NewReader(randBytes(5 << 20))}))
		parts = append(parts, types.CompletedPart{ETag: p.ETag, PartNumber: aws.Int32(i)})
	}
	must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}))
	obj, err = g.meta.GetObject(ctx, "rot", "mp", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.meta.LoadParts(ctx, "rot", &obj, store.PartsQuery{From: 1, To: 2}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(g.blobPath(obj.Parts[0].Blob.ID)); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := g.rawGet(t, "rot", "mp"); status != 500 {
		t.Fatalf("multipart with a part missing: status %d, %d bytes", status, len(body))
	}

	// Bit rot under a stored CRC32C: the body must not arrive whole.
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("flip"), Body: bytes.NewReader(data),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c}))
	obj, err = g.meta.GetObject(ctx, "rot", "flip", "")
	if err != nil {
		t.Fatal(err)
	}
	if obj.Checksums["CRC32C"] == "" {
		t.Fatalf("no CRC32C stored: %v", obj.Checksums)
	}
	p := g.blobPath(obj.Parts[0].Blob.ID)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	raw[1000] ^= 0x40
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	status, body, rerr := g.rawGet(t, "rot", "flip")
	if status == 200 && rerr == nil && len(body) == len(data) {
		t.Fatal("bit rot served as a complete 200 body")
	}
	// Intact data still reads whole.
	raw[1000] ^= 0x40
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	status, body, rerr = g.rawGet(t, "rot", "flip")
	if status != 200 || rerr != nil || !bytes.Equal(body, data) {
		t.Fatalf("intact object: status %d err %v, %d bytes", status, rerr, len(body))
	}
}

// TestReadChecksEncryptedData: with an encrypting store the stored CRC is
// not computed again on GET (the AEAD of every segment authenticates the
// bytes), yet a changed stored byte is still never served as a complete
// 200 body, and the checksum headers stay right.
func TestReadChecksEncryptedData(t *testing.T) {
	var blobs *crypt.Blobs
	g := startGatewayWith(t, func(b store.BlobStore) store.BlobStore {
		c, err := crypt.New(b, bytes.Repeat([]byte{9}, 32))
		if err != nil {
			t.Fatal(err)
		}
		blobs = c
		return c
	}, 0)
	c := g.client(0, true)
	b := aws.String("rot")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	data := randBytes(300 << 10)
	for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc32} {
		key := aws.String("flip-" + string(alg))
		put := must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: key, Body: bytes.NewReader(data),
			ChecksumAlgorithm: alg}))
		obj, err := g.meta.GetObject(ctx, "rot", *key, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(obj.Checksums) == 0 || !store.ReadsAuthenticated(blobs, obj.Parts) {
			t.Fatalf("%s: checksums %v, reads authenticated %v", alg, obj.Checksums, store.ReadsAuthenticated(blobs, obj.Parts))
		}
		// The SDK checks the returned checksum against the body.
		out := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, ChecksumMode: types.ChecksumModeEnabled}))
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: intact object: %d bytes, err %v", alg, len(got), err)
		}
		want, have := aws.ToString(put.ChecksumCRC32C)+aws.ToString(put.ChecksumCRC32), aws.ToString(out.ChecksumCRC32C)+aws.ToString(out.ChecksumCRC32)
		if want == "" || have != want {
			t.Fatalf("%s: GET checksum %q, PUT said %q", alg, have, want)
		}
		// A flipped bit in the third stored segment.
		p := g.blobPath(obj.Parts[0].Blob.ID)
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		raw[2*65536+1000] ^= 0x40
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		status, body, rerr := g.rawGet(t, "rot", *key)
		if status == 200 && rerr == nil && len(body) == len(data) {
			t.Fatalf("%s: changed stored byte served as a complete 200 body", alg)
		}
		if !bytes.Equal(body, data[:min(len(body), len(data))]) {
			t.Fatalf("%s: bytes that were never written reached the client", alg)
		}
	}
}
