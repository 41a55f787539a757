package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"

	"github.com/datdot/datdot/transfer"
)

// runPut is `datdot put FILE s3://BUCKET/KEY`.
func runPut(ctx context.Context, args []string) error {
	cl, rest, o, err := transferSetup("put", "FILE s3://BUCKET/KEY", args)
	if err != nil || cl == nil {
		return err
	}
	bucket, key, err := parseS3URL(rest[1])
	if err != nil {
		return err
	}
	o.NewProgress = newBar("put " + rest[0])
	_, err = transfer.Put(ctx, cl, bucket, key, rest[0], o)
	return err
}

// runGet is `datdot get s3://BUCKET/KEY FILE`.
func runGet(ctx context.Context, args []string) error {
	cl, rest, o, err := transferSetup("get", "s3://BUCKET/KEY FILE", args)
	if err != nil || cl == nil {
		return err
	}
	bucket, key, err := parseS3URL(rest[0])
	if err != nil {
		return err
	}
	o.NewProgress = newBar("get " + rest[0])
	_, err = transfer.Get(ctx, cl, bucket, key, rest[1], o)
	return err
}

// newBar draws a progress bar on stderr for transfers; a resumed transfer
// starts where it stopped.
func newBar(desc string) func(total, resumed int64) transfer.Progress {
	return func(total, resumed int64) transfer.Progress {
		bar := progressbar.NewOptions64(total,
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
			progressbar.OptionFullWidth(),
		)
		if resumed > 0 {
			bar.Add64(resumed)
		}
		return bar
	}
}

// transferSetup parses the flags and finds the S3 endpoint and key pair:
// flags, then AWS_ENDPOINT_URL/S3_ENDPOINT, AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, then the devnet's devnet.env in --home.
func transferSetup(name, usage string, args []string) (*s3.Client, []string, transfer.Options, error) {
	var o transfer.Options
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "S3 endpoint URL (default: $AWS_ENDPOINT_URL, $S3_ENDPOINT, then the devnet's)")
	home := fs.String("home", ".devnet", "devnet home whose devnet.env gives the endpoint and keys when nothing else does")
	region := fs.String("region", "us-east-1", "region to sign for")
	partMiB := fs.Int64("part-size", transfer.DefaultPartSize>>20, "multipart part size in MiB (at least 5)")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: datdot %s [flags] %s\n\nCopies in parts with a progress bar; an interrupted copy resumes when run again.\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, nil, o, nil
		}
		return nil, nil, o, err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return nil, nil, o, fmt.Errorf("want %s", usage)
	}
	if *partMiB < 5 {
		return nil, nil, o, errors.New("--part-size must be at least 5 (MiB)")
	}
	o.PartSize = *partMiB << 20
	env := func(k string) string { return os.Getenv(k) }
	devnetEnv, _ := readEnvFile(*home + "/devnet.env")
	pick := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	ep := pick(*endpoint, env("AWS_ENDPOINT_URL"), env("S3_ENDPOINT"), devnetEnv["S3_ENDPOINT"])
	ak := pick(env("AWS_ACCESS_KEY_ID"), devnetEnv["AWS_ACCESS_KEY_ID"])
	sk := pick(env("AWS_SECRET_ACCESS_KEY"), devnetEnv["AWS_SECRET_ACCESS_KEY"])
	if ep == "" || ak == "" || sk == "" {
		return nil, nil, o, errors.New("no S3 endpoint or key pair: set --endpoint, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run a devnet (--home)")
	}
	cl := s3.New(s3.Options{
		BaseEndpoint: aws.String(ep), Region: *region, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Minute},
	})
	return cl, fs.Args(), o, nil
}

// parseS3URL splits s3://bucket/key.
func parseS3URL(u string) (string, string, error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	bucket, key, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || bucket == "" || key == "" {
		return "", "", fmt.Errorf("%q is not s3://BUCKET/KEY", u)
	}
	return bucket, key, nil
}
