// Command s3 is a small S3 load generator for comparing the DatDot gateway
// with other S3 servers on the same machine. For each object size it runs a
// PUT phase and then a GET phase of the objects just written, with a fixed
// number of concurrent workers, each phase bounded by an operation count, a
// byte budget and a time limit, and prints ops/s, MB/s and p50/p99 latency.
//
// It talks through aws-sdk-go-v2 with its default behaviour (signed payloads
// over http, default checksums), the way applications built on the SDK do.
//
//	go run ./bench/s3 -endpoint http://127.0.0.1:9000 -access-key AK -secret-key SK
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

type config struct {
	endpoint    string
	access      string
	secret      string
	region      string
	bucket      string
	label       string
	concurrency int
	sizes       []int64
	count       int
	maxBytes    int64
	duration    time.Duration
	checksum    string
	keep        bool
	putOnly     bool
	getOnly     bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/s3:", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench/s3:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("bench/s3", flag.ContinueOnError)
	fs.StringVar(&cfg.endpoint, "endpoint", "http://127.0.0.1:9000", "S3 endpoint URL")
	fs.StringVar(&cfg.access, "access-key", "", "access key id")
	fs.StringVar(&cfg.secret, "secret-key", "", "secret access key")
	fs.StringVar(&cfg.region, "region", "us-east-1", "signing region")
	fs.StringVar(&cfg.bucket, "bucket", "", "bucket to create and use (default: bench-<random>)")
	fs.StringVar(&cfg.label, "label", "", "name of the server in the table (default: the endpoint)")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "concurrent requests")
	sizes := fs.String("sizes", "64KiB,1MiB,16MiB", "comma-separated object sizes (B, KiB, MiB suffixes)")
	fs.IntVar(&cfg.count, "count", 2000, "at most this many operations per size and phase")
	maxBytes := fs.String("max-bytes", "1GiB", "at most this many bytes per size and phase")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "at most this long per size and phase")
	fs.StringVar(&cfg.checksum, "checksum", "when_supported", "request checksums: when_supported (SDK default) or when_required")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the bucket and objects afterwards")
	fs.BoolVar(&cfg.putOnly, "put-only", false, "skip the GET phases (to measure what PUTs cost the server)")
	fs.BoolVar(&cfg.getOnly, "get-only", false, "skip the PUT phases and GET the objects an earlier -put-only -keep run left in -bucket (to measure what GETs cost the server)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.access == "" || cfg.secret == "" {
		return cfg, errors.New("-access-key and -secret-key are required")
	}
	if cfg.concurrency < 1 || cfg.count < 1 || cfg.duration <= 0 {
		return cfg, errors.New("-concurrency, -count and -duration must be positive")
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := parseSize(s)
		if err != nil {
			return cfg, fmt.Errorf("-sizes: %w", err)
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	mb, err := parseSize(*maxBytes)
	if err != nil {
		return cfg, fmt.Errorf("-max-bytes: %w", err)
	}
	cfg.maxBytes = mb
	if cfg.checksum != "when_supported" && cfg.checksum != "when_required" {
		return cfg, fmt.Errorf("-checksum %q: want when_supported or when_required", cfg.checksum)
	}
	if cfg.putOnly && cfg.getOnly {
		return cfg, errors.New("-put-only and -get-only exclude each other")
	}
	if cfg.getOnly && cfg.bucket == "" {
		return cfg, errors.New("-get-only needs the -bucket of an earlier -put-only -keep run")
	}
	if cfg.bucket == "" {
		cfg.bucket = "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if cfg.label == "" {
		cfg.label = cfg.endpoint
	}
	return cfg, nil
}

// parseSize reads "64KiB", "1MiB", "16MiB", "1GiB" or a plain byte count.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// result is what one phase measured.
type result struct {
	op      string
	size    int64
	ops     int
	errs    int
	elapsed time.Duration
	lat     []time.Duration // successful operations only
	lastErr error
}

func (r result) opsPerSec() float64 { return float64(r.ops) / r.elapsed.Seconds() }
func (r result) mbPerSec() float64 {
	return float64(r.ops) * float64(r.size) / r.elapsed.Seconds() / 1e6
}

func (r result) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}

func newClient(cfg config) *s3.Client {
	calc := aws.RequestChecksumCalculationWhenSupported
	if cfg.checksum == "when_required" {
		calc = aws.RequestChecksumCalculationWhenRequired
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.concurrency * 2
	return s3.New(s3.Options{
		Region:                     cfg.region,
		BaseEndpoint:               aws.String(cfg.endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(cfg.access, cfg.secret, ""),
		HTTPClient:                 &http.Client{Transport: transport},
		RetryMaxAttempts:           1, // an error is counted, never hidden by a retry
		RequestChecksumCalculation: calc,
	})
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	client := newClient(cfg)
	if !cfg.getOnly {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(cfg.bucket)}); err != nil {
			return fmt.Errorf("create bucket %s: %w", cfg.bucket, err)
		}
	}
	slog.Info("benchmark", "server", cfg.label, "endpoint", cfg.endpoint, "bucket", cfg.bucket,
		"concurrency", cfg.concurrency, "count", cfg.count, "duration", cfg.duration)
	var results []result
	var runErr error
	for _, size := range cfg.sizes {
		n := min(int64(cfg.count), max(1, cfg.maxBytes/size))
		var keys []string
		if cfg.getOnly {
			var err error
			if keys, err = listKeys(ctx, client, cfg.bucket, "obj-"+formatSize(size)+"/"); err != nil {
				runErr = err
				break
			}
		} else {
			put, written, err := putPhase(ctx, client, cfg, size, int(n))
			results = append(results, put)
			if err != nil {
				runErr = err
				break
			}
			keys = written
		}
		if !cfg.putOnly {
			results = append(results, getPhase(ctx, client, cfg, size, keys))
		}
		if ctx.Err() != nil {
			runErr = ctx.Err()
			break
		}
	}
	printTable(out, cfg, results)
	if !cfg.keep {
		if err := emptyAndDelete(context.WithoutCancel(ctx), client, cfg.bucket); err != nil {
			slog.Warn("cleanup", "bucket", cfg.bucket, "err", err)
		}
	}
	for _, r := range results {
		if r.errs > 0 {
			return errors.Join(runErr, fmt.Errorf("%s %s: %d errors, last: %w", r.op, formatSize(r.size), r.errs, r.lastErr))
		}
	}
	return runErr
}

// phase runs op with cfg.concurrency workers until n operations were started
// or cfg.duration elapsed; op gets the operation's index.
func phase(ctx context.Context, cfg config, name string, size int64, n int, op func(ctx context.Context, i int) error) result {
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	var next atomic.Int64
	var mu sync.Mutex
	res := result{op: name, size: size}
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < cfg.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := op(ctx, i)
				d := time.Since(t0)
				if ctx.Err() != nil && err != nil {
					return // cut off by the time limit: neither a success nor an error
				}
				mu.Lock()
				if err != nil {
					res.errs++
					res.lastErr = err
				} else {
					res.ops++
					res.lat = append(res.lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func putPhase(ctx context.Context, client *s3.Client, cfg config, size int64, n int) (result, []string, error) {
	payload := make([]byte, size)
	if _, err := rand.Read(payload); err != nil {
		return result{}, nil, err
	}
	keys := make([]string, n)
	done := make([]bool, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("obj-%s/%06d", formatSize(size), i)
	}
	res := phase(ctx, cfg, "PUT", size, n, func(ctx context.Context, i int) error {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(cfg.bucket),
			Key:           aws.String(keys[i]),
			Body:          bytes.NewReader(payload),
			ContentLength: aws.Int64(size),
		})
		if err == nil {
			done[i] = true // each index is written by one worker only
		}
		return err
	})
	var written []string
	for i, ok := range done {
		if ok {
			written = append(written, keys[i])
		}
	}
	if len(written) == 0 {
		return res, nil, fmt.Errorf("PUT %s: no object written: %w", formatSize(size), res.lastErr)
	}
	// One read-back to be sure the GET phase measures real content.
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(cfg.bucket), Key: aws.String(written[0])})
	if err != nil {
		return res, nil, fmt.Errorf("verify GET %s: %w", written[0], err)
	}
	h := sha256.New()
	_, err = io.Copy(h, got.Body)
	got.Body.Close()
	if err != nil {
		return res, nil, fmt.Errorf("verify GET %s: %w", written[0], err)
	}
	if want := sha256.Sum256(payload); !bytes.Equal(h.Sum(nil), want[:]) {
		return res, nil, fmt.Errorf("verify GET %s: content differs from what was PUT", written[0])
	}
	return res, written, nil
}

func getPhase(ctx context.Context, client *s3.Client, cfg config, size int64, keys []string) result {
	n := min(cfg.count, max(1, int(cfg.maxBytes/size)))
	return phase(ctx, cfg, "GET", size, n, func(ctx context.Context, i int) error {
		key := keys[i%len(keys)]
		got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(cfg.bucket), Key: aws.String(key)})
		if err != nil {
			return err
		}
		defer got.Body.Close()
		m, err := io.Copy(io.Discard, got.Body)
		if err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
		if m != size {
			return fmt.Errorf("read %s: %d bytes, want %d", key, m, size)
		}
		return nil
	})
}

func printTable(out io.Writer, cfg config, results []result) {
	fmt.Fprintf(out, "\n%s  (%s, concurrency %d, checksum %s)\n", cfg.label, cfg.endpoint, cfg.concurrency, cfg.checksum)
	defer func() {
		var put int64
		for _, r := range results {
			if r.op == "PUT" {
				put += int64(r.ops) * r.size
			}
		}
		// One line for scripts (bench/s3/network.sh computes overhead
		// and transactions per GiB from it).
		fmt.Fprintf(out, "bytes written by PUTs: %d\n", put)
	}()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size\top\tops\terrors\tsecs\tops/s\tMB/s\tp50 ms\tp99 ms\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n",
			formatSize(r.size), r.op, r.ops, r.errs, r.elapsed.Seconds(), r.opsPerSec(), r.mbPerSec(),
			ms(r.percentile(0.50)), ms(r.percentile(0.99)))
	}
	tw.Flush()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// listKeys returns the keys under prefix, at least one.
func listKeys(ctx context.Context, client *s3.Client, bucket, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("-get-only: no objects under %s/%s (PUT them with -put-only -keep first)", bucket, prefix)
	}
	return keys, nil
}

func emptyAndDelete(ctx context.Context, client *s3.Client, bucket string) error {
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, 0, len(page.Contents))
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if _, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		}); err != nil {
			return fmt.Errorf("delete objects: %w", err)
		}
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("delete bucket: %w", err)
	}
	return nil
}
