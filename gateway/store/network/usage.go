package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// VolumeUsage is how much of a volume's stream still holds live data:
// what compaction needs to pick mostly-dead volumes.
type VolumeUsage struct {
	Volume string
	// Stream is how far the volume's stream is known written: the end
	// of its last committed blob or of its last durable flush (padding
	// included), whichever is further.
	Stream int64
	// Live is the bytes of blobs committed to it and not deleted.
	Live int64
}

// Dead is the stream bytes no live blob holds (deleted blobs, padding,
// blobs whose metadata never committed).
func (u VolumeUsage) Dead() int64 { return u.Stream - u.Live }

var (
	bucketUsage = []byte("usage") // volume hex -> stream, live (uint64be each)
	bucketGone  = []byte("gone")  // blob id -> volume hex: deleted once
)

// usageDB records per volume its durable stream length and the live
// bytes of blobs in it, in a bbolt file (fsynced; concurrent updates are
// batched into one transaction). A blob deleted twice (the Reaper retries
// after a crash) is subtracted once.
type usageDB struct{ db *bolt.DB }

func openUsage(path string) (*usageDB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("network: usage db: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketUsage, bucketGone} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("network: usage db: %w", err)
	}
	return &usageDB{db: db}, nil
}

func (u *usageDB) close() error {
	if u == nil {
		return nil
	}
	return u.db.Close()
}

func getUsage(b *bolt.Bucket, vol string) (stream, live int64) {
	v := b.Get([]byte(vol))
	if len(v) != 16 {
		return 0, 0
	}
	return int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))
}

func putUsage(b *bolt.Bucket, vol string, stream, live int64) error {
	v := binary.BigEndian.AppendUint64(nil, uint64(stream))
	v = binary.BigEndian.AppendUint64(v, uint64(max(live, 0)))
	return b.Put([]byte(vol), v)
}

// committed adds a committed blob of n bytes in vol, whose stream is
// durable up to stream.
func (u *usageDB) committed(vol string, n, stream int64) error {
	if u == nil {
		return nil
	}
	return u.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsage)
		s, l := getUsage(b, vol)
		return putUsage(b, vol, max(s, stream), l+n)
	})
}

type extentGone struct {
	id  string
	vol string
	n   int64
}

// deleted subtracts deleted blobs' extents, each blob once.
func (u *usageDB) deleted(gone []extentGone) error {
	if u == nil || len(gone) == 0 {
		return nil
	}
	return u.db.Batch(func(tx *bolt.Tx) error {
		b, g := tx.Bucket(bucketUsage), tx.Bucket(bucketGone)
		for _, e := range gone {
			key := []byte(e.id + "/" + e.vol)
			if g.Get(key) != nil {
				continue
			}
			if err := g.Put(key, nil); err != nil {
				return err
			}
			s, l := getUsage(b, e.vol)
			if err := putUsage(b, e.vol, s, l-e.n); err != nil {
				return err
			}
		}
		return nil
	})
}

func (u *usageDB) all() ([]VolumeUsage, error) {
	if u == nil {
		return nil, errors.New("network: no usage accounting configured")
	}
	var out []VolumeUsage
	err := u.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsage).ForEach(func(k, _ []byte) error {
			s, l := getUsage(tx.Bucket(bucketUsage), string(k))
			out = append(out, VolumeUsage{Volume: string(k), Stream: s, Live: l})
			return nil
		})
	})
	return out, err
}
