package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkPutGet measures PUT and GET through the full stack (SigV4,
// handler, bbolt + files with fsync) with aws-sdk-go-v2 over loopback.
// Run: go test -run '^$' -bench PutGet -benchtime 200x ./gateway/
func BenchmarkPutGet(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			g := startGateway(b)
			c := g.client(0, true)
			bucket := aws.String("bench")
			if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
				b.Fatal(err)
			}
			data := randBytes(size)
			var n atomic.Int64
			b.Run("PUT", func(b *testing.B) {
				b.SetBytes(int64(size))
				b.SetParallelism(4) // 4 x GOMAXPROCS concurrent requests
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						k := fmt.Sprint(n.Add(1) % 256)
						if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(k), Body: bytes.NewReader(data)}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("GET", func(b *testing.B) {
				b.SetBytes(int64(size))
				b.SetParallelism(4)
				var m atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						k := fmt.Sprint(m.Add(1) % min(n.Load(), 256))
						out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(k)})
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, out.Body)
						out.Body.Close()
					}
				})
			})
		})
	}
}

// BenchmarkSmallPut measures one client PUTting 8 KiB objects one after
// the other (issue 16: small-PUT latency at concurrency 1), every answer
// after its fsync. Profile: go test -run '^$' -bench SmallPut -benchtime
// 300x -cpuprofile cpu.out ./gateway/
func BenchmarkSmallPut(b *testing.B) {
	g := startGateway(b)
	c := g.client(0, true)
	bucket := aws.String("bench")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		b.Fatal(err)
	}
	data := randBytes(8 << 10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(fmt.Sprint(i)), Body: bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
	}
}
