// Package transfer copies files to and from S3 (the DatDot gateway or any
// S3 server) in parts, and resumes an interrupted copy: an upload continues
// its multipart upload, skipping the parts the server already has with the
// same MD5; a download continues its partial file with a ranged GET that
// only succeeds while the object is unchanged.
package transfer

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// DefaultPartSize is the part size of multipart uploads.
const DefaultPartSize = 8 << 20

// Progress is told how many bytes moved; the CLI draws a bar with it.
type Progress interface {
	Add64(n int64) error
}

type noProgress struct{}

func (noProgress) Add64(int64) error { return nil }

// Options tune a transfer.
type Options struct {
	PartSize int64    // multipart part size (at least 5 MiB for S3)
	Progress Progress // may be nil
	// NewProgress, when set, is called with the total bytes to move before
	// the transfer starts and replaces Progress.
	NewProgress func(total int64, resumed int64) Progress
}

func (o Options) partSize() int64 {
	if o.PartSize <= 0 {
		return DefaultPartSize
	}
	return o.PartSize
}

func (o Options) progress(total, resumed int64) Progress {
	if o.NewProgress != nil {
		return o.NewProgress(total, resumed)
	}
	if o.Progress != nil {
		return o.Progress
	}
	return noProgress{}
}

// uploadState is kept beside the file while a multipart upload is under
// way, so that a second run continues it.
type uploadState struct {
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	UploadID string `json:"upload_id"`
	Size     int64  `json:"size"`
	ModTime  int64  `json:"mod_time"`
	PartSize int64  `json:"part_size"`
}

// StatePath is where Put keeps the state of an unfinished upload of path.
func StatePath(path string) string { return path + ".datdot-upload" }

// Put uploads the file at path to bucket/key: one PUT for a file of at most
// one part, else a multipart upload that a later Put of the same file
// resumes. It returns the number of bytes sent.
func Put(ctx context.Context, cl *s3.Client, bucket, key, path string, o Options) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("transfer: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("transfer: %w", err)
	}
	size, ps := st.Size(), o.partSize()
	if size <= ps {
		p := o.progress(size, 0)
		body := &progressReader{r: io.NewSectionReader(f, 0, size), p: p}
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: body, ContentLength: aws.Int64(size)}); err != nil {
			return 0, fmt.Errorf("transfer: put s3://%s/%s: %w", bucket, key, err)
		}
		return size, nil
	}

	state := uploadState{Bucket: bucket, Key: key, Size: size, ModTime: st.ModTime().UnixNano(), PartSize: ps}
	have := map[int32]string{} // part number -> ETag the server holds
	if old, err := readState(StatePath(path)); err == nil && old.Bucket == bucket && old.Key == key && old.Size == size && old.ModTime == state.ModTime && old.PartSize == ps {
		parts, err := listParts(ctx, cl, old)
		if err == nil {
			state.UploadID, have = old.UploadID, parts
		}
		// An upload the server no longer knows is started again.
	}
	if state.UploadID == "" {
		out, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return 0, fmt.Errorf("transfer: start upload of s3://%s/%s: %w", bucket, key, err)
		}
		state.UploadID = aws.ToString(out.UploadId)
		if err := writeState(StatePath(path), state); err != nil {
			return 0, err
		}
	}

	nparts := int32((size + ps - 1) / ps)
	// Parts already on the server count only if their MD5 matches the file.
	skip := map[int32]bool{}
	var resumed int64
	for n := int32(1); n <= nparts; n++ {
		etag, ok := have[n]
		if !ok {
			continue
		}
		off, l := int64(n-1)*ps, min(ps, size-int64(n-1)*ps)
		sum, err := md5Of(io.NewSectionReader(f, off, l))
		if err != nil {
			return 0, err
		}
		if strings.Trim(etag, `"`) == sum {
			skip[n] = true
			resumed += l
		}
	}
	p := o.progress(size, resumed)
	var sent int64
	completed := make([]types.CompletedPart, 0, nparts)
	for n := int32(1); n <= nparts; n++ {
		off, l := int64(n-1)*ps, min(ps, size-int64(n-1)*ps)
		if skip[n] {
			completed = append(completed, types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(have[n])})
			continue
		}
		body := &progressReader{r: io.NewSectionReader(f, off, l), p: p}
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: &state.UploadID,
			PartNumber: aws.Int32(n), Body: body, ContentLength: aws.Int64(l)})
		if err != nil {
			return sent, fmt.Errorf("transfer: part %d of s3://%s/%s (run again to resume): %w", n, bucket, key, err)
		}
		sent += l
		completed = append(completed, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag})
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: &state.UploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed}}); err != nil {
		return sent, fmt.Errorf("transfer: complete s3://%s/%s: %w", bucket, key, err)
	}
	if err := os.Remove(StatePath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return sent, fmt.Errorf("transfer: %w", err)
	}
	return sent, nil
}

func listParts(ctx context.Context, cl *s3.Client, s uploadState) (map[int32]string, error) {
	out := map[int32]string{}
	var marker *string
	for {
		res, err := cl.ListParts(ctx, &s3.ListPartsInput{Bucket: &s.Bucket, Key: &s.Key, UploadId: &s.UploadID, PartNumberMarker: marker})
		if err != nil {
			return nil, err
		}
		for _, p := range res.Parts {
			out[aws.ToInt32(p.PartNumber)] = aws.ToString(p.ETag)
		}
		if !aws.ToBool(res.IsTruncated) {
			return out, nil
		}
		marker = res.NextPartNumberMarker
	}
}

func md5Of(r io.Reader) (string, error) {
	h := md5.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("transfer: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func readState(path string) (uploadState, error) {
	var s uploadState
	data, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(data, &s)
}

func writeState(path string, s uploadState) error {
	data, _ := json.Marshal(s)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	return nil
}

// Get downloads bucket/key to path. The bytes go to path+".part" first
// (fsynced, then renamed over path); a Get that finds a .part file of the
// same object version (its ETag is kept in path+".part.etag") continues it
// with a ranged GET conditional on that ETag. It returns the bytes fetched.
func Get(ctx context.Context, cl *s3.Client, bucket, key, path string, o Options) (int64, error) {
	head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return 0, fmt.Errorf("transfer: s3://%s/%s: %w", bucket, key, err)
	}
	size, etag := aws.ToInt64(head.ContentLength), aws.ToString(head.ETag)
	part, etagFile := path+".part", path+".part.etag"
	var start int64
	if old, err := os.ReadFile(etagFile); err == nil && string(old) == etag {
		if st, err := os.Stat(part); err == nil && st.Size() <= size {
			start = st.Size()
		}
	}
	if start == 0 {
		if err := os.WriteFile(etagFile, []byte(etag), 0o600); err != nil {
			return 0, fmt.Errorf("transfer: %w", err)
		}
	}
	flags := os.O_WRONLY | os.O_CREATE
	if start == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return 0, fmt.Errorf("transfer: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return 0, fmt.Errorf("transfer: %w", err)
	}
	p := o.progress(size, start)
	var got int64
	if start < size {
		in := &s3.GetObjectInput{Bucket: &bucket, Key: &key, IfMatch: &etag}
		if start > 0 {
			in.Range = aws.String(fmt.Sprintf("bytes=%d-", start))
		}
		out, err := cl.GetObject(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("transfer: get s3://%s/%s (run again to resume): %w", bucket, key, err)
		}
		got, err = io.Copy(f, &progressReader{r: out.Body, p: p})
		out.Body.Close()
		if err != nil {
			return got, fmt.Errorf("transfer: get s3://%s/%s (run again to resume): %w", bucket, key, err)
		}
	}
	if st, err := f.Stat(); err != nil || st.Size() != size {
		return got, fmt.Errorf("transfer: s3://%s/%s: got %d bytes of %d (run again to resume)", bucket, key, statSize(st), size)
	}
	if err := f.Sync(); err != nil {
		return got, fmt.Errorf("transfer: %w", err)
	}
	if err := f.Close(); err != nil {
		return got, fmt.Errorf("transfer: %w", err)
	}
	if err := os.Rename(part, path); err != nil {
		return got, fmt.Errorf("transfer: %w", err)
	}
	os.Remove(etagFile)
	return got, nil
}

func statSize(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}

// progressReader reports what is read through it. Seeking back to the
// start (the SDK does so to hash or retry a body) takes back what was
// reported.
type progressReader struct {
	r    io.Reader
	p    Progress
	read int64
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.read += int64(n)
	r.p.Add64(int64(n))
	return n, err
}

func (r *progressReader) Seek(off int64, whence int) (int64, error) {
	s, ok := r.r.(io.Seeker)
	if !ok {
		return 0, errors.New("transfer: body cannot seek")
	}
	pos, err := s.Seek(off, whence)
	if err == nil {
		r.p.Add64(pos - r.read)
		r.read = pos
	}
	return pos, err
}
