package network

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/durable"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/boltgroup"
	"github.com/datdot/datdot/gateway/store/local"
)

// VolumeUsage is how much of a volume's stream still holds live data:
// what compaction needs to pick mostly-dead volumes.
type VolumeUsage struct {
	Volume string
	// Stream is how far the volume's stream is known written (padding
	// and the holes of short stripes included). With fresh blobs (usage
	// records in the metadata database) it is recorded from the cores
	// (Blobs.recordShape: when the volume is reopened, settled at the
	// next start after a crash, closed, appended to by compaction, or,
	// filled by this process, at the next compaction pass), so it may
	// lag the cores until then; with records in a file of their own it
	// is the furthest of what each blob's commit recorded (its end, or
	// the stream durable then) and the growths recorded otherwise.
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
	// bucketDeleted: volume hex "/" blob id -> nothing: the blob was
	// deleted from the volume (subtracted once however often its delete
	// is retried). A volume's keys are one range, dropped when it is
	// retired (usageDB.retired).
	bucketDeleted = []byte("deleted")
	// bucketGoneV1 is what bucketDeleted replaces: blob id "/" volume
	// hex -> nothing, never dropped; an earlier version's keys are moved
	// over at open (migrateGone).
	bucketGoneV1 = []byte("gone")
	// bucketBlobs indexes the blobs of each volume (what compaction
	// moves): volume hex "/" blob id -> offset, length, unix ns of the
	// commit (uint64be each).
	bucketBlobs = []byte("blobs")
	// bucketState: volume hex -> compaction state (see compact.go).
	bucketState = []byte("state")
	// bucketHoles: volume hex -> stream bytes in the holes of its short
	// stripes (uint64be).
	bucketHoles = []byte("holes")
	// bucketReshape: volume hex -> nothing: a volume whose records were
	// rebuilt from the metadata (rebuildChunks, in the same transaction) and
	// whose stream and holes are still to be read from its local cores
	// (Blobs.shapeRebuilt, which drops the key with the shape's record).
	// Every open reshapes the volumes still listed, so a crash between
	// the rebuild and the shapes is repaired by the next start. It also
	// holds rebuildCursor while the rebuild is not finished. Only in the
	// metadata database.
	bucketReshape = []byte("reshape")
)

// usageDB records per volume its durable stream length and the live
// bytes of blobs in it, fsynced, and indexes each volume's blobs. A blob
// deleted twice (the Reaper retries after a crash) is subtracted once.
//
// The records live in the metadata database (meta set: a UsageJournal,
// local.Meta), under its top-level bucket "volumes": blobs are then
// committed fresh (store.BlobRef.Fresh) and the metadata commit that
// first references a blob records it (Blobs.recordFresh), and concurrent
// updates share the metadata's group commits. Without such a journal
// they live in a bbolt file of their own (file set; top-level buckets),
// whose concurrent updates share commits through package boltgroup, and
// a blob's usage is recorded when it is committed, beside its pending
// record.
type usageDB struct {
	meta  UsageJournal
	file  *bolt.DB
	group *boltgroup.Group // file's: concurrent updates share commits, none waits for company
	// rebuilt lists the volumes whose records init rebuilt from the
	// metadata (their shapes are then read from their local cores).
	rebuilt []string
	// chunk is how many blobs one transaction of the rebuild records,
	// and how many deleted-blob keys of an earlier layout one
	// transaction moves (default usageChunk).
	chunk int
	// chunked, when set (tests), is called after each transaction of a
	// rebuild or a migration that leaves work for the next one; an
	// error stops there, as a crash would.
	chunked func() error
}

// usageChunk is how many blobs one transaction of the usage rebuild
// records, and how many deleted-blob keys of an earlier layout one
// transaction moves: bbolt keeps a transaction's pages in memory until
// it commits, so millions of blobs are never one transaction.
const usageChunk = 10000

// rebuildCursor, a key in bucketReshape (not a volume id: not hex), is
// there while the rebuild of the usage records from the metadata is not
// finished: its value is "c" and the id of the last blob recorded (none
// yet: "c" alone).
var rebuildCursor = []byte("rebuild-cursor")

// UsageJournal is a Journal whose database can hold the usage records
// beside the metadata (local.Meta): Update, Batch (a group commit; fn
// may run more than once) and View run fn in a transaction of it, and
// SetFreshBlobs sets what records a fresh blob in the metadata commit
// that first references it.
type UsageJournal interface {
	Journal
	SetFreshBlobs(fn local.FreshBlobs)
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	Batch(ctx context.Context, fn func(*bolt.Tx) error) error
	View(ctx context.Context, fn func(*bolt.Tx) error) error
}

// usageRoot is the usage records' top-level bucket in the metadata
// database; usageMigrated, a key in it, says that a usage file of an
// earlier version was copied in.
var (
	usageRoot     = []byte("volumes")
	usageMigrated = []byte("migrated")
	usageBuckets  = [][]byte{bucketUsage, bucketDeleted, bucketBlobs, bucketState, bucketHoles}
)

// openUsage opens the usage records: in journal's database when it is
// a UsageJournal (a file left at path by an earlier version is copied in
// first, then renamed to path+".migrated"), else in the file at path.
func openUsage(path string, journal Journal) (*usageDB, error) {
	return openUsageChunked(path, journal, usageChunk, nil)
}

// openUsageChunked is openUsage with chunk blobs or keys per transaction
// of a rebuild or a migration, and chunked called between them (tests).
func openUsageChunked(path string, journal Journal, chunk int, chunked func() error) (*usageDB, error) {
	if m, ok := journal.(UsageJournal); ok {
		u := &usageDB{meta: m, chunk: chunk, chunked: chunked}
		if err := u.init(path); err != nil {
			return nil, fmt.Errorf("network: usage records: %w", err)
		}
		return u, nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("network: usage db: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range usageBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	u := &usageDB{file: db, group: boltgroup.New(db), chunk: chunk, chunked: chunked}
	if err == nil {
		err = u.migrateGoneChunks()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("network: usage db: %w", err)
	}
	return u, nil
}

// init creates the usage buckets in the metadata database and migrates
// the usage file at path (written by a version that kept the records
// there) into them: all of it in one transaction that also sets the
// migrated mark, then the file is renamed to path+".migrated". A crash
// before the commit leaves the file to migrate at the next start; after
// it, the mark says the file is a copy and it is only renamed. With a
// file to migrate the buckets are created by that transaction only, so
// that a failed migration leaves none (the records are then migrated,
// or rebuilt, at a start after the operator dealt with the file).
//
// A metadata database that has no usage records and no file to migrate
// them from, but references blobs (one rebuilt from the metadata log:
// gateway recover), gets them rebuilt from the metadata: the transaction
// that creates the buckets sets the rebuild's cursor, and the rebuild
// then records the blobs a chunk per transaction (rebuildChunks).
// Deleted-blob keys of an earlier layout are moved a chunk per
// transaction too (migrateGoneChunks).
func (u *usageDB) init(path string) error {
	ctx := context.Background()
	file := false
	if path != "" {
		if _, err := os.Stat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
			file = true // a file to migrate, or one to report as unreadable
		}
	}
	err := u.meta.Update(ctx, func(tx *bolt.Tx) error {
		u.rebuilt = nil
		missing := tx.Bucket(usageRoot) == nil
		if missing && file {
			// Created by the migration's transaction only: a migration
			// that fails leaves no records, so that once the file is
			// dealt with (repaired, or removed) they are migrated, or
			// rebuilt from the metadata.
			return nil
		}
		root, err := tx.CreateBucketIfNotExists(usageRoot)
		if err != nil {
			return err
		}
		for _, b := range append(usageBuckets, bucketReshape) {
			if _, err := root.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if missing && !file {
			// Rebuilt from the metadata by the transactions that follow
			// (rebuildChunks), from the first blob.
			return root.Bucket(bucketReshape).Put(rebuildCursor, []byte("c"))
		}
		return nil
	})
	if err == nil {
		err = u.migrateGoneChunks()
	}
	if err == nil {
		err = u.rebuildChunks()
	}
	if err == nil {
		// The volumes whose shapes are still to be recorded (this rebuild's,
		// or those of one a crash interrupted before their shapes).
		err = u.view(func(tx *bolt.Tx) error {
			u.rebuilt = nil
			if tx.Bucket(usageRoot) == nil {
				return nil // not created: a usage file to migrate
			}
			return u.bucket(tx, bucketReshape).ForEach(func(k, _ []byte) error {
				if !bytes.Equal(k, rebuildCursor) {
					u.rebuilt = append(u.rebuilt, string(k))
				}
				return nil
			})
		})
	}
	if err != nil || !file {
		return err
	}
	old, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open %s to migrate it: %w", path, err)
	}
	err = old.View(func(otx *bolt.Tx) error {
		return u.meta.Update(ctx, func(tx *bolt.Tx) error {
			root, err := tx.CreateBucketIfNotExists(usageRoot)
			if err != nil {
				return err
			}
			if root.Get(usageMigrated) != nil {
				return nil
			}
			for _, b := range append(usageBuckets, bucketReshape) {
				if _, err := root.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			for _, name := range usageBuckets {
				from := otx.Bucket(name)
				if from == nil {
					continue
				}
				to := root.Bucket(name)
				if err := from.ForEach(func(k, v []byte) error { return to.Put(k, v) }); err != nil {
					return err
				}
			}
			if old := otx.Bucket(bucketGoneV1); old != nil {
				if err := migrateGone(old, root.Bucket(bucketDeleted), root.Bucket(bucketState)); err != nil {
					return err
				}
			}
			return root.Put(usageMigrated, []byte(path))
		})
	})
	if cerr := old.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("migrate %s: %w", path, err)
	}
	if err := durable.Rename(path, path+migratedSuffix); err != nil {
		return fmt.Errorf("set %s aside once migrated: %w", path, err)
	}
	return nil
}

// migrateGone moves the deleted-blob keys of an earlier version (blob id
// "/" volume hex, in old) to deleted (volume hex "/" blob id), leaving
// out those of retired volumes (no delete counts there any more).
func migrateGone(old, deleted, states *bolt.Bucket) error {
	return old.ForEach(func(k, _ []byte) error { return migrateGoneKey(k, deleted, states) })
}

func migrateGoneKey(k []byte, deleted, states *bolt.Bucket) error {
	i := bytes.LastIndexByte(k, '/')
	if i <= 0 || i == len(k)-1 {
		return nil // not a key any version wrote
	}
	id, vol := k[:i], k[i+1:]
	if string(states.Get(vol)) == stateRetired {
		return nil
	}
	return deleted.Put(blobKey(string(vol), string(id)), nil)
}

// migrateGoneChunks moves the deleted-blob keys of an earlier version
// (bucketGoneV1, in the records' own database) to the current layout, at
// most u.chunk keys per transaction, each key deleted from the old
// bucket in the transaction that moves it (so the keys left are the
// durable cursor: a crash between two transactions moves the rest at the
// next open), and the old bucket deleted by the last one.
func (u *usageDB) migrateGoneChunks() error {
	for {
		more := false
		err := u.update(func(tx *bolt.Tx) error {
			more = false
			var parent interface {
				Bucket([]byte) *bolt.Bucket
				DeleteBucket([]byte) error
			} = tx
			if u.meta != nil {
				root := tx.Bucket(usageRoot)
				if root == nil {
					return nil
				}
				parent = root
			}
			old := parent.Bucket(bucketGoneV1)
			if old == nil {
				return nil
			}
			var keys [][]byte
			c := old.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < max(u.chunk, 1); k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
			deleted, states := u.bucket(tx, bucketDeleted), u.bucket(tx, bucketState)
			for _, k := range keys {
				if err := migrateGoneKey(k, deleted, states); err != nil {
					return err
				}
				if err := old.Delete(k); err != nil {
					return err
				}
			}
			if k, _ := old.Cursor().First(); k != nil {
				more = true
				return nil
			}
			return parent.DeleteBucket(bucketGoneV1)
		})
		if err != nil {
			return fmt.Errorf("move the deleted-blob keys of an earlier version: %w", err)
		}
		if !more {
			return nil
		}
		if u.chunked != nil {
			if err := u.chunked(); err != nil {
				return err
			}
		}
	}
}

// rebuildChunks rebuilds the usage records from the metadata while
// bucketReshape holds rebuildCursor, u.chunk blobs per transaction: each
// records the next blobs the metadata references (ids after the
// cursor's) as live in the volumes their extents name and indexed (as
// compaction needs), each volume's stream covering at least its blobs,
// lists those volumes in bucketReshape and moves the cursor past them;
// the last one drops the cursor. A crash between two transactions
// resumes after the last blob recorded at the next open, which runs
// before the store takes any write: the records equal those one
// transaction over every blob would make, provided nothing but this
// store changes the metadata's blob references in between (the gateway
// does not serve before its store is open).
//
// The holes and the true stream of each volume are recorded after
// (Blobs.shapeRebuilt, from the volume's local cores, at this open or,
// after a crash, the next); blobs the metadata no longer references are
// dead space, and a volume none of whose blobs is referenced has no
// record (its order is given up by the sweep of orphans the last
// transaction asks for: orphans.go). The blobs count as committed now,
// so compaction leaves them MinAge.
func (u *usageDB) rebuildChunks() error {
	for {
		more := false
		err := u.update(func(tx *bolt.Tx) error {
			more = false
			if tx.Bucket(usageRoot) == nil {
				return nil // not created: a usage file to migrate
			}
			rs := u.bucket(tx, bucketReshape)
			cur := rs.Get(rebuildCursor)
			if len(cur) == 0 {
				return nil
			}
			last, left, err := local.ReferencedBlobsAfter(tx, string(cur[1:]), max(u.chunk, 1), func(ref store.BlobRef) error {
				if ref.Inline {
					return nil
				}
				for _, e := range ref.Extents {
					if e.Volume == "" || e.Length <= 0 {
						continue
					}
					if err := u.committedTx(tx, e.Volume, ref.ID, e.Offset, e.Length, e.Offset+e.Length, 0); err != nil {
						return err
					}
					if err := rs.Put([]byte(e.Volume), nil); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if left {
				more = true
				return rs.Put(rebuildCursor, append([]byte("c"), last...))
			}
			if err := rs.Delete(rebuildCursor); err != nil {
				return err
			}
			if k, _ := rs.Cursor().First(); k == nil {
				// A new gateway (or one whose metadata references nothing):
				// no sweep, so that a data directory started afresh with the
				// master secret of an earlier one never gives up the volumes
				// a recovery could still read.
				return nil
			}
			// Volumes no referenced blob names got no record: their orders
			// are found on chain and given up by the compaction passes
			// (orphans.go).
			return tx.Bucket(usageRoot).Put(usageSweep, []byte{1})
		})
		if err != nil {
			return fmt.Errorf("rebuild from the metadata: %w", err)
		}
		if !more {
			return nil
		}
		if u.chunked != nil {
			if err := u.chunked(); err != nil {
				return err
			}
		}
	}
}

// reshaped records the shape of a rebuilt volume (shape, when known: its
// local cores were read) and drops it from bucketReshape, in one commit.
func (u *usageDB) reshaped(vol string, known bool, stream, holes int64) error {
	return u.update(func(tx *bolt.Tx) error {
		if known {
			if err := u.shapeTx(tx, vol, stream, holes); err != nil {
				return err
			}
		}
		return u.bucket(tx, bucketReshape).Delete([]byte(vol))
	})
}

// migratedSuffix names a usage file once its records are copied into
// the metadata database: it is set aside, not removed, for an operator
// to look at (an earlier version cannot use it: there is no downgrade
// past this one).
const migratedSuffix = ".migrated"

func (u *usageDB) close() error {
	if u == nil || u.file == nil {
		return nil
	}
	return u.file.Close()
}

// bucket returns one of the usage buckets in tx.
func (u *usageDB) bucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	if u.meta != nil {
		return tx.Bucket(usageRoot).Bucket(name)
	}
	return tx.Bucket(name)
}

// update runs fn in a commit of its own, batch in a group commit (fn may
// run more than once), view in a read transaction.
func (u *usageDB) update(fn func(*bolt.Tx) error) error {
	if u.meta != nil {
		return u.meta.Update(context.Background(), fn)
	}
	return u.file.Update(fn)
}

func (u *usageDB) batch(fn func(*bolt.Tx) error) error {
	if u.meta != nil {
		return u.meta.Batch(context.Background(), fn)
	}
	return u.group.Run(fn)
}

func (u *usageDB) view(fn func(*bolt.Tx) error) error {
	if u.meta != nil {
		return u.meta.View(context.Background(), fn)
	}
	return u.file.View(fn)
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
	return u.batch(func(tx *bolt.Tx) error { return u.committedTx(tx, vol, id, off, n, stream, holes) })
}

// committedTx is committed in tx.
func (u *usageDB) committedTx(tx *bolt.Tx, vol, id string, off, n, stream, holes int64) error {
	b := u.bucket(tx, bucketUsage)
	s, l := getUsage(b, vol)
	if err := putUsage(b, vol, max(s, stream), l+n); err != nil {
		return err
	}
	if err := u.addHolesTx(tx, vol, holes); err != nil {
		return err
	}
	return u.bucket(tx, bucketBlobs).Put(blobKey(vol, id), blobVal(off, n, time.Now()))
}

// committedPending records a committed blob's usage (committed) and its
// pending record (Journal.AddPending, due at due), concurrently, in two
// commits (records in a file of their own).
func (u *usageDB) committedPending(ctx context.Context, j Journal, ref store.BlobRef, due time.Time, vol string, off, n, stream, holes int64) (usageErr, pendingErr error) {
	var wg sync.WaitGroup
	wg.Go(func() { usageErr = u.committed(vol, ref.ID, off, n, stream, holes) })
	pendingErr = j.AddPending(ctx, []store.BlobRef{ref}, due)
	wg.Wait()
	return usageErr, pendingErr
}

// shape records what a volume's cores are known to hold: its stream
// covers at least stream bytes, of which at least holes are in the holes
// of short stripes (computed from the cores, Blobs.recordShape). Both only
// grow with the stream, so a record made from an older length changes
// nothing.
func (u *usageDB) shape(vol string, stream, holes int64) error {
	if u == nil {
		return nil
	}
	return u.batch(func(tx *bolt.Tx) error { return u.shapeTx(tx, vol, stream, holes) })
}

func (u *usageDB) shapeTx(tx *bolt.Tx, vol string, stream, holes int64) error {
	b := u.bucket(tx, bucketUsage)
	if s, l := getUsage(b, vol); stream > s {
		if err := putUsage(b, vol, stream, l); err != nil {
			return err
		}
	}
	hb := u.bucket(tx, bucketHoles)
	if holes > getHoles(hb, vol) {
		return hb.Put([]byte(vol), binary.BigEndian.AppendUint64(nil, uint64(holes)))
	}
	return nil
}

// addHoles records that holes more bytes of vol's stream are in holes of
// short stripes.
func (u *usageDB) addHoles(vol string, holes int64) error {
	if u == nil || holes <= 0 {
		return nil
	}
	return u.batch(func(tx *bolt.Tx) error { return u.addHolesTx(tx, vol, holes) })
}

func (u *usageDB) addHolesTx(tx *bolt.Tx, vol string, holes int64) error {
	if holes <= 0 {
		return nil
	}
	b := u.bucket(tx, bucketHoles)
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
	err := u.view(func(tx *bolt.Tx) error {
		pfx := []byte(vol + "/")
		c := u.bucket(tx, bucketBlobs).Cursor()
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
	return u.batch(func(tx *bolt.Tx) error {
		b := u.bucket(tx, bucketUsage)
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
	return u.update(func(tx *bolt.Tx) error {
		for _, m := range ms {
			if err := u.moveTx(tx, m.id, m.from, m.to, m.off, m.n); err != nil {
				return err
			}
		}
		return nil
	})
}

func (u *usageDB) moveTx(tx *bolt.Tx, id, from, to string, off, n int64) error {
	{
		b, ix := u.bucket(tx, bucketUsage), u.bucket(tx, bucketBlobs)
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
	return u.update(func(tx *bolt.Tx) error {
		b, ix := u.bucket(tx, bucketUsage), u.bucket(tx, bucketBlobs)
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
	err := u.view(func(tx *bolt.Tx) error {
		st = string(u.bucket(tx, bucketState).Get([]byte(vol)))
		return nil
	})
	return st, err
}

// wasDeletedTx reports whether blob id was deleted from vol (in tx).
func (u *usageDB) wasDeletedTx(tx *bolt.Tx, vol, id string) bool {
	return u.bucket(tx, bucketDeleted).Get(blobKey(vol, id)) != nil
}

// retired records durably that vol is retired and, in the same commit,
// drops its deleted-blob keys (and any index entry left): once its state
// is retired no delete is counted there (deleted) and no fresh blob of it
// is recorded (Blobs.recordFresh refuses every volume with a state), so
// nothing needs them, and the keys of deleted blobs stay bounded by the
// volumes not yet given up.
func (u *usageDB) retired(vol string) error {
	return u.update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketDeleted, bucketBlobs} {
			if err := deleteRange(u.bucket(tx, name), []byte(vol+"/")); err != nil {
				return err
			}
		}
		if rs := u.bucket(tx, bucketReshape); rs != nil {
			// No shape to ask its hosters for any more.
			if err := rs.Delete([]byte(vol)); err != nil {
				return err
			}
		}
		return u.bucket(tx, bucketState).Put([]byte(vol), []byte(stateRetired))
	})
}

// deleteRange deletes the keys of b that begin with pfx.
func deleteRange(b *bolt.Bucket, pfx []byte) error {
	c := b.Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Seek(pfx) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// setState records vol's compaction state durably.
func (u *usageDB) setState(vol, st string) error {
	return u.update(func(tx *bolt.Tx) error { return u.bucket(tx, bucketState).Put([]byte(vol), []byte(st)) })
}

// states returns every volume's compaction state.
func (u *usageDB) states() (map[string]string, error) {
	out := map[string]string{}
	err := u.view(func(tx *bolt.Tx) error {
		return u.bucket(tx, bucketState).ForEach(func(k, v []byte) error {
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

// deleted subtracts deleted blobs' extents, each blob once and only
// where it is indexed.
func (u *usageDB) deleted(gone []extentGone) error {
	if u == nil || len(gone) == 0 {
		return nil
	}
	return u.batch(func(tx *bolt.Tx) error {
		b, g, states := u.bucket(tx, bucketUsage), u.bucket(tx, bucketDeleted), u.bucket(tx, bucketState)
		for _, e := range gone {
			if string(states.Get([]byte(e.vol))) == stateRetired {
				// Given up: no blob of it is counted any more (and its
				// deleted keys were dropped with it).
				continue
			}
			key := blobKey(e.vol, e.id)
			if g.Get(key) != nil {
				continue
			}
			if err := g.Put(key, nil); err != nil {
				return err
			}
			// A blob is counted in the volume it is indexed in (a relocated
			// blob's freed reference names its new volume), and only there:
			// one never indexed (a fresh blob no metadata commit
			// referenced) or no longer (dropped as a leftover, moved) is
			// not counted live, so its delete subtracts nothing.
			ix := u.bucket(tx, bucketBlobs)
			if ix.Get(key) == nil {
				continue
			}
			if err := ix.Delete(key); err != nil {
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
	err := u.view(func(tx *bolt.Tx) error {
		return u.bucket(tx, bucketUsage).ForEach(func(k, _ []byte) error {
			s, l := getUsage(u.bucket(tx, bucketUsage), string(k))
			h := min(getHoles(u.bucket(tx, bucketHoles), string(k)), s)
			out = append(out, VolumeUsage{Volume: string(k), Stream: s, Live: l, Holes: h})
			return nil
		})
	})
	return out, err
}
