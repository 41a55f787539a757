package local

import (
	"context"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
)

// Usage per bucket, for per-account limits:
//
//	usage: bucket name -> bytes (8 bytes, big endian) of every stored
//	       version and every part of its open multipart uploads
//
// Bytes count as S3 counts them (a copy that shares its source's blob
// counts again). Each transaction that adds or drops a version or a part
// updates the count, so reading it costs one record.
var bUsage = []byte("usage")

func addUsage(tx *bolt.Tx, bucket string, delta int64) error {
	if delta == 0 {
		return nil
	}
	bk := tx.Bucket(bUsage)
	var cur int64
	if v := bk.Get([]byte(bucket)); len(v) == 8 {
		cur = int64(binary.BigEndian.Uint64(v))
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(max(cur+delta, 0)))
	return bk.Put([]byte(bucket), buf[:])
}

func partsSize(parts []store.Part) int64 {
	var n int64
	for _, p := range parts {
		n += p.Size
	}
	return n
}

// BucketUsage implements store.UsageReader.
func (m *Meta) BucketUsage(ctx context.Context, bucket string) (n int64, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bUsage).Get([]byte(bucket)); len(v) == 8 {
			n = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return n, err
}

// countUsage builds the usage counts of a database written before they
// existed; it runs once, when the usage bucket is created.
func countUsage(tx *bolt.Tx) error {
	err := tx.Bucket(bObjects).ForEachBucket(func(name []byte) error {
		return tx.Bucket(bObjects).Bucket(name).ForEach(func(k, v []byte) error {
			var o struct {
				Size int64 `json:"size"`
			}
			if err := decode(v, &o, "object", k); err != nil {
				return err
			}
			return addUsage(tx, string(name), o.Size)
		})
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bUploads).ForEachBucket(func(name []byte) error {
		return tx.Bucket(bUploads).Bucket(name).ForEach(func(k, v []byte) error {
			var up store.Upload
			if err := decode(v, &up, "upload", k); err != nil {
				return err
			}
			ps, err := readParts(tx, up.UploadID)
			if err != nil {
				return nil // parts gone: nothing to count
			}
			return addUsage(tx, string(name), partsSize(ps))
		})
	})
}
