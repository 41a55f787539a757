package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestOverwriteWhileReading: a GET that started before an overwrite keeps
// reading the old bytes to the end, across parts opened after the
// overwrite; the old data is deleted once that reader is done.
func TestOverwriteWhileReading(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b, k := aws.String("race"), aws.String("obj")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	old := randBytes(3 * 5 << 20)
	up := must[*s3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k}))
	var parts []types.CompletedPart
	for i := int32(0); i < 3; i++ {
		p := must[*s3.UploadPartOutput](t)(c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: up.UploadId,
			PartNumber: aws.Int32(i + 1), Body: bytes.NewReader(old[int(i)*5<<20 : int(i+1)*5<<20])}))
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(i + 1), ETag: p.ETag})
	}
	must[*s3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}))

	get := must[*s3.GetObjectOutput](t)(c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k}))
	head := make([]byte, 4096)
	if _, err := io.ReadFull(get.Body, head); err != nil {
		t.Fatal(err)
	}
	// Overwrite (frees the three old part blobs) and delete a copy, while
	// the GET is still open.
	// (Larger than an inline blob, so that the new object is a file too.)
	must[*s3.PutObjectOutput](t)(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: bytes.NewReader(randBytes(20 << 10))}))
	rest, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "old object read across an overwrite", append(head, rest...), old)
	// The reader's server side unpins the old blobs and the reaper deletes
	// them after the body is closed: wait for that, however busy the machine.
	deadline := time.Now().Add(time.Minute)
	n, _ := g.blobFiles()
	for n != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n, _ = g.blobFiles()
	}
	if n != 1 {
		t.Fatalf("%d blobs a minute after the reader finished, want 1 (the new object)", n)
	}
}

// TestConcurrentPutGetDelete: writers overwrite one key, a deleter deletes
// it, readers read it, all at once. Every successful GET returns exactly one
// writer's complete body (never a mix, never short), every failure is
// NoSuchKey, and when it is over no blob is left but the current object's.
func TestConcurrentPutGetDelete(t *testing.T) {
	g := startGateway(t)
	c := g.client(0, true)
	b, k := aws.String("busy"), aws.String("key")
	must[*s3.CreateBucketOutput](t)(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	body := func(w int) []byte { return bytes.Repeat([]byte{byte('a' + w)}, 200<<10+w*1000) }
	const writers, rounds = 4, 8
	errc := make(chan error, 64)
	done := make(chan struct{})
	var wg, rwg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: bytes.NewReader(body(w))}); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range rounds {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k}); err != nil {
				errc <- err
				return
			}
		}
	}()
	for range 3 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
				if err != nil {
					if apiCode(err) != "NoSuchKey" {
						errc <- err
						return
					}
					continue
				}
				got, err := io.ReadAll(out.Body)
				out.Body.Close()
				if err != nil {
					errc <- err
					return
				}
				w := int(got[0] - 'a')
				if w < 0 || w >= writers || !bytes.Equal(got, body(w)) {
					errc <- fmt.Errorf("GET returned %d bytes that are no writer's whole body", len(got))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	rwg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	want := 0
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k}); err == nil {
		want = 1
	}
	if n, tmp := g.blobFiles(); n != want || tmp != 0 {
		t.Fatalf("%d blobs and %d temp files left, want %d and 0", n, tmp, want)
	}
}
