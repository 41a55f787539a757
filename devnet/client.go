package devnet

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/datdot/datdot/gateway/config"
)

var httpClient = &http.Client{Timeout: 5 * time.Second}

func get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return httpClient.Do(req)
}

// httpOK says whether url answers 200.
func httpOK(ctx context.Context, url string) bool {
	resp, err := get(ctx, url)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// httpAnswers says whether anything answers HTTP at url (any status).
func httpAnswers(ctx context.Context, url string) bool {
	resp, err := get(ctx, url)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true
}

// latestHeight reads the latest block height from CometBFT's RPC /status.
func latestHeight(ctx context.Context, rpc string) (int64, error) {
	resp, err := get(ctx, rpc+"/status")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Result struct {
			SyncInfo struct {
				LatestBlockHeight string `json:"latest_block_height"`
			} `json:"sync_info"`
		} `json:"result"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return 0, fmt.Errorf("devnet: %s/status: %w", rpc, err)
	}
	return strconv.ParseInt(st.Result.SyncInfo.LatestBlockHeight, 10, 64)
}

// loadOrMakeKeys reads the gateway's key file, making a new random key pair
// the first time. The file is the gateway's --keys-file.
func loadOrMakeKeys(path string) (config.Key, error) {
	f, err := os.Open(path)
	if err == nil {
		keys, err := config.ReadKeys(f)
		f.Close()
		if err != nil {
			return config.Key{}, fmt.Errorf("devnet: %s: %w", path, err)
		}
		if len(keys) == 0 {
			return config.Key{}, fmt.Errorf("devnet: %s has no key (remove it to make a new one)", path)
		}
		return keys[0], nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return config.Key{}, fmt.Errorf("devnet: %w", err)
	}
	k := config.Key{
		AccessKey:   "DD" + randomString(18, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
		SecretKey:   randomString(40, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
		UserID:      "devnet",
		DisplayName: "devnet",
	}
	line := fmt.Sprintf("# the devnet's S3 key pair (ACCESS:SECRET:USERID:NAME)\n%s:%s:%s:%s\n", k.AccessKey, k.SecretKey, k.UserID, k.DisplayName)
	if err := writeFileAtomic(path, []byte(line), 0o600); err != nil {
		return config.Key{}, err
	}
	return k, nil
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// s3Client is an S3 client for the devnet's gateway with its key pair.
func s3Client(c Config, k config.Key) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String("http://" + c.GatewayListen),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(k.AccessKey, k.SecretKey, ""),
		UsePathStyle: true,
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	})
}

// ensureBucket makes the devnet's bucket once (a marker in stateDir
// remembers it was made, so a bucket the person deleted stays deleted).
func ensureBucket(ctx context.Context, c Config, k config.Key, stateDir string) error {
	if c.Bucket == "" {
		return nil
	}
	marker := filepath.Join(stateDir, "bucket-made")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	_, err := s3Client(c, k).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(c.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("devnet: make bucket %s: %w", c.Bucket, err)
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	return writeFileAtomic(marker, []byte(c.Bucket+"\n"), 0o644)
}

// bucketInfo is one bucket of the gateway as the dashboard shows it.
type bucketInfo struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Objects int       `json:"objects"`
	Bytes   int64     `json:"bytes"`
	More    bool      `json:"more"` // more than the counted objects
}

// listBuckets lists the gateway's buckets with the devnet's key, counting
// up to 1000 objects per bucket.
func listBuckets(ctx context.Context, c Config, k config.Key) ([]bucketInfo, error) {
	cl := s3Client(c, k)
	out, err := cl.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return nil, err
	}
	var res []bucketInfo
	for _, b := range out.Buckets {
		bi := bucketInfo{Name: aws.ToString(b.Name), Created: aws.ToTime(b.CreationDate)}
		lo, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b.Name})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", bi.Name, err)
		}
		for _, o := range lo.Contents {
			bi.Objects++
			bi.Bytes += aws.ToInt64(o.Size)
		}
		bi.More = aws.ToBool(lo.IsTruncated)
		res = append(res, bi)
	}
	return res, nil
}

// activeHosters counts the hosters the chain lists as active, read from its
// REST API like any client would.
func activeHosters(ctx context.Context, rest string) (int, error) {
	resp, err := get(ctx, rest+"/datdot/storage/v1/hosters?pagination.limit=1000")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("devnet: hosters: HTTP %d", resp.StatusCode)
	}
	var r struct {
		Hosters []struct {
			Status string `json:"status"`
		} `json:"hosters"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&r); err != nil {
		return 0, fmt.Errorf("devnet: hosters: %w", err)
	}
	n := 0
	for _, h := range r.Hosters {
		if h.Status == "HOSTER_STATUS_ACTIVE" {
			n++
		}
	}
	return n, nil
}

// accountAddress is the address of a genesis account, from the key file
// initChain kept beside the chain's keyring.
func accountAddress(chainHome, name string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(chainHome, "keys", name+".json"))
	if err != nil {
		return "", fmt.Errorf("devnet: account %s: %w", name, err)
	}
	var k struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(raw, &k); err != nil || k.Address == "" {
		return "", fmt.Errorf("devnet: account %s: no address in %s", name, filepath.Join(chainHome, "keys", name+".json"))
	}
	return k.Address, nil
}
