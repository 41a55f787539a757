package network

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store/boltgroup"
)

// VolumeUsage is how much of a volume's stream still holds live data:
// what compaction needs to pick mostly-dead volumes.
type VolumeUsage struct {
	Volume string
	// Stream is how far the volume's stream is known written: the end
	// of its last committed blob or of its last durable flush (padding
	// and the holes of short stripes included), whichever is further.
	Stream int64
	// Live is the bytes of blobs committed to it and not deleted.
	Live int64
	// Holes is the stream bytes known to lie in the holes of short
	// stripes (docs/volume-format.md, v2): address space that takes no
	// room on the hosters. Holes a crash kept from being recorded count
	// as dead.
	Holes int64
}

// Stored is the stream bytes the volume's stripes hold (Stream without
// the holes).
func (u VolumeUsage) Stored() int64 { return u.Stream - u.Holes }

// Dead is the stored bytes no live blob holds (deleted blobs, padding,
// blobs whose metadata never committed).
func (u VolumeUsage) Dead() int64 { return max(u.Stored()-u.Live, 0) }

var (
	bucketUsage = []byte("usage") // volume hex -> stream, live (uint64be each)
	bucketGone  = []byte("gone")  // blob id -> volume hex: deleted once
	// bucketBlobs indexes the blobs of each volume (what compaction
	// moves): volume hex "/" blob id -> offset, length, unix ns of the
	// commit (uint64be each).
	bucketBlobs = []byte("blobs")
	// bucketState: volume hex -> compaction state (see compact.go).
	bucketState = []byte("state")
	// bucketHoles: volume hex -> stream bytes in the holes of its short
	// stripes (uint64be).
	bucketHoles = []byte("holes")
)

// usageDB records per volume its durable stream length and the live
// bytes of blobs in it, in a bbolt file (fsynced; concurrent updates
// share commits through package boltgroup, and a lone one does not wait
// for company as with bbolt's Batch). A blob deleted twice (the Reaper
// retries after a crash) is subtracted once.
type usageDB struct {
	db    *bolt.DB
	group *boltgroup.Group // concurrent updates share commits, none waits for company
}

func openUsage(path string) (*usageDB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("network: usage db: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketUsage, bucketGone, bucketBlobs, bucketState, bucketHoles} {
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
	return &usageDB{db: db, group: boltgroup.New(db)}, nil
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

// committed adds a committed blob id of n bytes at off in vol, whose
// stream is durable up to stream, and indexes it; holes more stream bytes
// are known to be in holes of short stripes.
func (u *usageDB) committed(vol, id string, off, n, stream, holes int64) error {
	if u == nil {
		return nil
	}
	return u.group.Run(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsage)
		s, l := getUsage(b, vol)
		if err := putUsage(b, vol, max(s, stream), l+n); err != nil {
			return err
		}
		if err := addHolesTx(tx, vol, holes); err != nil {
			return err
		}
		return tx.Bucket(bucketBlobs).Put(blobKey(vol, id), blobVal(off, n, time.Now()))
	})
}

// addHoles records that holes more bytes of vol's stream are in holes of
// short stripes.
func (u *usageDB) addHoles(vol string, holes int64) error {
	if u == nil || holes <= 0 {
		return nil
	}
	return u.group.Run(func(tx *bolt.Tx) error { return addHolesTx(tx, vol, holes) })
}

func addHolesTx(tx *bolt.Tx, vol string, holes int64) error {
	if holes <= 0 {
		return nil
	}
	b := tx.Bucket(bucketHoles)
	return b.Put([]byte(vol), binary.BigEndian.AppendUint64(nil, uint64(getHoles(b, vol)+holes)))
}

func getHoles(b *bolt.Bucket, vol string) int64 {
	v := b.Get([]byte(vol))
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func blobKey(vol, id string) []byte { return []byte(vol + "/" + id) }

func blobVal(off, n int64, at time.Time) []byte {
	v := binary.BigEndian.AppendUint64(nil, uint64(off))
	v = binary.BigEndian.AppendUint64(v, uint64(n))
	return binary.BigEndian.AppendUint64(v, uint64(at.UnixNano()))
}

// volBlob is one indexed blob of a volume.
type volBlob struct {
	id       string
	off, n   int64
	commited time.Time
}

func parseBlob(vol string, k, v []byte) (volBlob, bool) {
	if len(v) != 24 || len(k) <= len(vol)+1 {
		return volBlob{}, false
	}
	return volBlob{id: string(k[len(vol)+1:]), off: int64(binary.BigEndian.Uint64(v)), n: int64(binary.BigEndian.Uint64(v[8:])),
		commited: time.Unix(0, int64(binary.BigEndian.Uint64(v[16:])))}, true
}

// blobsOf returns up to limit indexed blobs of vol after id after.
func (u *usageDB) blobsOf(vol, after string, limit int) ([]volBlob, error) {
	var out []volBlob
	err := u.db.View(func(tx *bolt.Tx) error {
		pfx := []byte(vol + "/")
		c := tx.Bucket(bucketBlobs).Cursor()
		k, v := c.Seek(append(pfx, after...))
		if after != "" && k != nil && string(k) == vol+"/"+after {
			k, v = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, pfx) && len(out) < limit; k, v = c.Next() {
			if b, ok := parseBlob(vol, k, v); ok {
				out = append(out, b)
			}
		}
		return nil
	})
	return out, err
}

// grew records that vol's stream is durable up to stream (bytes that no
// blob of the index holds are dead).
func (u *usageDB) grew(vol string, stream int64) error {
	if u == nil {
		return nil
	}
	return u.group.Run(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsage)
		s, l := getUsage(b, vol)
		if s >= stream {
			return nil
		}
		return putUsage(b, vol, stream, l)
	})
}

// moved records that blob id (n bytes) left from and now lives at off in
// to (compaction). It is idempotent: a blob no longer indexed in from is
// not subtracted again, one already indexed in to not added again.
func (u *usageDB) moved(id, from, to string, off, n int64) error {
	return u.movedAll([]blobMove{{id, from, to, off, n}})
}

type blobMove struct {
	id, from, to string
	off, n       int64
}

// movedAll is moved for many blobs in one transaction.
func (u *usageDB) movedAll(ms []blobMove) error {
	return u.db.Update(func(tx *bolt.Tx) error {
		for _, m := range ms {
			if err := moveTx(tx, m.id, m.from, m.to, m.off, m.n); err != nil {
				return err
			}
		}
		return nil
	})
}

func moveTx(tx *bolt.Tx, id, from, to string, off, n int64) error {
	{
		b, ix := tx.Bucket(bucketUsage), tx.Bucket(bucketBlobs)
		if ix.Get(blobKey(from, id)) != nil {
			if err := ix.Delete(blobKey(from, id)); err != nil {
				return err
			}
			s, l := getUsage(b, from)
			if err := putUsage(b, from, s, l-n); err != nil {
				return err
			}
		}
		if ix.Get(blobKey(to, id)) == nil {
			if err := ix.Put(blobKey(to, id), blobVal(off, n, time.Now())); err != nil {
				return err
			}
			s, l := getUsage(b, to)
			if err := putUsage(b, to, max(s, off+n), l+n); err != nil {
				return err
			}
		}
		return nil
	}
}

// dropBlob removes blob id of n bytes from vol's index and live bytes: a
// leftover of a write whose metadata never committed (dead space).
func (u *usageDB) dropBlob(vol, id string, n int64) error {
	return u.db.Update(func(tx *bolt.Tx) error {
		b, ix := tx.Bucket(bucketUsage), tx.Bucket(bucketBlobs)
		if ix.Get(blobKey(vol, id)) == nil {
			return nil
		}
		if err := ix.Delete(blobKey(vol, id)); err != nil {
			return err
		}
		s, l := getUsage(b, vol)
		return putUsage(b, vol, s, l-n)
	})
}

// state returns vol's compaction state ("" when none).
func (u *usageDB) state(vol string) (string, error) {
	var st string
	err := u.db.View(func(tx *bolt.Tx) error {
		st = string(tx.Bucket(bucketState).Get([]byte(vol)))
		return nil
	})
	return st, err
}

// setState records vol's compaction state durably.
func (u *usageDB) setState(vol, st string) error {
	return u.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketState).Put([]byte(vol), []byte(st)) })
}

// states returns every volume's compaction state.
func (u *usageDB) states() (map[string]string, error) {
	out := map[string]string{}
	err := u.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	return out, err
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
	return u.group.Run(func(tx *bolt.Tx) error {
		b, g := tx.Bucket(bucketUsage), tx.Bucket(bucketGone)
		for _, e := range gone {
			key := []byte(e.id + "/" + e.vol)
			if g.Get(key) != nil {
				continue
			}
			if err := g.Put(key, nil); err != nil {
				return err
			}
			// A blob is counted in the volume it is indexed in (a relocated
			// blob's freed reference names its new volume).
			if ix := tx.Bucket(bucketBlobs); ix.Get(blobKey(e.vol, e.id)) != nil {
				if err := ix.Delete(blobKey(e.vol, e.id)); err != nil {
					return err
				}
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
			h := min(getHoles(tx.Bucket(bucketHoles), string(k)), s)
			out = append(out, VolumeUsage{Volume: string(k), Stream: s, Live: l, Holes: h})
			return nil
		})
	})
	return out, err
}
