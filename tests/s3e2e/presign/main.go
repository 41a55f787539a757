// Command presign prints a SigV4 presigned URL made by aws-sdk-go-v2, for the
// S3 end-to-end script (scripts/e2e/s3-clients.sh): awscli's `s3 presign`
// cannot add response-* overrides such as response-content-disposition, which
// Mastodon puts on its download links.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "presign:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("presign", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "http://127.0.0.1:9000", "S3 endpoint URL")
	access := fs.String("access-key", "", "access key id")
	secret := fs.String("secret-key", "", "secret access key")
	region := fs.String("region", "us-east-1", "signing region")
	bucket := fs.String("bucket", "", "bucket")
	key := fs.String("key", "", "object key")
	method := fs.String("method", "GET", "GET, PUT or HEAD")
	expires := fs.Duration("expires", 5*time.Minute, "validity of the URL")
	disposition := fs.String("response-content-disposition", "", "response-content-disposition override")
	ctype := fs.String("response-content-type", "", "response-content-type override")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *access == "" || *secret == "" || *bucket == "" || *key == "" {
		return fmt.Errorf("-access-key, -secret-key, -bucket and -key are required")
	}
	client := s3.New(s3.Options{
		Region:       *region,
		BaseEndpoint: aws.String(*endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(*access, *secret, ""),
	})
	pc := s3.NewPresignClient(client, s3.WithPresignExpires(*expires))
	opt := func(v string) *string {
		if v == "" {
			return nil
		}
		return aws.String(v)
	}
	var url string
	switch *method {
	case "GET":
		req, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{
			Bucket:                     aws.String(*bucket),
			Key:                        aws.String(*key),
			ResponseContentDisposition: opt(*disposition),
			ResponseContentType:        opt(*ctype),
		})
		if err != nil {
			return fmt.Errorf("presign GET: %w", err)
		}
		url = req.URL
	case "PUT":
		req, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(*bucket),
			Key:    aws.String(*key),
		})
		if err != nil {
			return fmt.Errorf("presign PUT: %w", err)
		}
		url = req.URL
	case "HEAD":
		req, err := pc.PresignHeadObject(ctx, &s3.HeadObjectInput{
			Bucket: aws.String(*bucket),
			Key:    aws.String(*key),
		})
		if err != nil {
			return fmt.Errorf("presign HEAD: %w", err)
		}
		url = req.URL
	default:
		return fmt.Errorf("unsupported -method %q", *method)
	}
	fmt.Println(url)
	return nil
}
