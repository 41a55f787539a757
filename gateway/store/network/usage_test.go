package network

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// fileJournal hides local.Meta's UsageJournal methods: the usage records
// then go to a file of their own, as earlier versions kept them.
type fileJournal struct{ Journal }

// failJournal fails the commit of a blob's usage and pending records
// after both were written in its transaction (a full disk at commit).
type failJournal struct{ *local.Meta }

var errCommit = errors.New("commit failed")

func (f failJournal) AddPendingTx(ctx context.Context, refs []store.BlobRef, due time.Time, fn func(*bolt.Tx) error) error {
	return f.Meta.AddPendingTx(ctx, refs, due, func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errCommit
	})
}

type usageEnv struct {
	t    *testing.T
	dir  string
	cfg  Config
	meta *local.Meta
	b    *Blobs
}

func newUsageEnv(t *testing.T) *usageEnv {
	dir := t.TempDir()
	e := &usageEnv{t: t, dir: dir, cfg: Config{Dir: filepath.Join(dir, "net"), Master: bytes.Repeat([]byte{3}, 32),
		Layout: volume.Layout{K: 2, M: 1}, UsagePath: filepath.Join(dir, "volumes.db")}}
	t.Cleanup(e.close)
	return e
}

// open opens the metadata and the store; wrap, if not nil, gives the
// store's journal.
func (e *usageEnv) open(wrap func(*local.Meta) Journal) {
	e.t.Helper()
	var err error
	if e.meta, err = local.OpenMeta(filepath.Join(e.dir, "meta.db")); err != nil {
		e.t.Fatal(err)
	}
	e.cfg.Journal = e.meta
	if wrap != nil {
		e.cfg.Journal = wrap(e.meta)
	}
	if e.b, err = Open(e.cfg); err != nil {
		e.meta.Close()
		e.meta = nil
		e.t.Fatal(err)
	}
}

func (e *usageEnv) close() {
	if e.b != nil {
		e.b.Close()
		e.b = nil
	}
	if e.meta != nil {
		e.meta.Close()
		e.meta = nil
	}
}

func (e *usageEnv) write(n int) store.BlobRef {
	e.t.Helper()
	ref, err := store.WriteBlob(ctx, e.b, bytes.NewReader(make([]byte, n)), int64(n), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// records is everything the usage records say.
type records struct {
	usage  []VolumeUsage
	states map[string]string
	blobs  map[string][]volBlob
}

func (e *usageEnv) records() records {
	e.t.Helper()
	us, err := e.b.Usage()
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := e.b.usage.states()
	if err != nil {
		e.t.Fatal(err)
	}
	r := records{usage: us, states: st, blobs: map[string][]volBlob{}}
	for _, u := range us {
		bs, err := e.b.usage.blobsOf(u.Volume, "", 1<<20)
		if err != nil {
			e.t.Fatal(err)
		}
		for i := range bs {
			bs[i].commited = bs[i].commited.Round(0)
		}
		r.blobs[u.Volume] = bs
	}
	return r
}

func (r records) equal(o records) bool {
	if !slices.Equal(r.usage, o.usage) || len(r.states) != len(o.states) || len(r.blobs) != len(o.blobs) {
		return false
	}
	for k, v := range r.states {
		if o.states[k] != v {
			return false
		}
	}
	for k, v := range r.blobs {
		if !slices.EqualFunc(v, o.blobs[k], func(a, b volBlob) bool {
			return a.id == b.id && a.off == b.off && a.n == b.n && a.commited.Equal(b.commited)
		}) {
			return false
		}
	}
	return true
}

func (e *usageEnv) live(id string) bool {
	e.t.Helper()
	for _, bs := range e.records().blobs {
		for _, b := range bs {
			if b.id == id {
				return true
			}
		}
	}
	return false
}

func (e *usageEnv) state(id string) local.BlobState {
	e.t.Helper()
	_, st, err := e.meta.Blob(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *usageEnv) liveBytes() int64 {
	var n int64
	for _, u := range e.records().usage {
		n += u.Live
	}
	return n
}

// TestUsageCommitsWithPending: with the metadata as journal, a committed
// blob's usage record is written in the metadata database in the commit
// of its pending record (no usage file): a commit that fails leaves
// neither, one that succeeds both. A blob whose PUT then dies (a crash
// before its metadata commit) stays counted live until the reaper deletes
// it, which subtracts it once, however often it is retried.
func TestUsageCommitsWithPending(t *testing.T) {
	e := newUsageEnv(t)
	e.open(nil)
	kept := e.write(3000)
	if _, err := os.Stat(e.cfg.UsagePath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a usage file was created beside the metadata: %v", err)
	}
	if !e.live(kept.ID) || e.state(kept.ID) != local.BlobPending || e.liveBytes() != 3000 {
		t.Fatalf("a committed blob: indexed %v, state %v, live %d; want indexed, pending, 3000", e.live(kept.ID), e.state(kept.ID), e.liveBytes())
	}
	err := e.meta.View(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(usageRoot).Bucket(bucketBlobs).Get(blobKey(kept.Extents[0].Volume, kept.ID)) == nil {
			return errors.New("the blob is not indexed in the metadata database")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The records' commit fails: the blob is not acknowledged and
	// neither record exists.
	e.close()
	e.open(func(m *local.Meta) Journal { return failJournal{m} })
	before := e.records()
	if _, err := store.WriteBlob(ctx, e.b, bytes.NewReader(make([]byte, 5000)), 5000, nil); !errors.Is(err, errCommit) {
		t.Fatalf("a blob whose records did not commit: %v, want %v", err, errCommit)
	}
	after := e.records()
	for _, u := range after.usage {
		for _, b := range after.blobs[u.Volume] {
			if !slices.ContainsFunc(before.blobs[u.Volume], func(o volBlob) bool { return o.id == b.id }) {
				t.Fatalf("a blob whose commit failed is indexed: %+v", b)
			}
		}
	}
	if e.liveBytes() != 3000 {
		t.Fatalf("live %d after a failed commit, want 3000", e.liveBytes())
	}

	// A PUT that dies after the records' commit (the gateway killed
	// before the metadata commit): after a restart the blob is live and
	// pending; the reaper deletes it and it is counted dead, once.
	e.close()
	e.open(nil)
	dead := e.write(7000)
	e.close()
	e.open(nil)
	if !e.live(dead.ID) || e.state(dead.ID) != local.BlobPending || e.liveBytes() != 10000 {
		t.Fatalf("after a crash: indexed %v, state %v, live %d; want indexed, pending, 10000", e.live(dead.ID), e.state(dead.ID), e.liveBytes())
	}
	claimed, err := e.meta.ClaimDeletes(ctx, time.Now().Add(2*PendingWindow), []string{dead.ID}, 1, nil)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim the dead blob: %v %v", claimed, err)
	}
	for range 2 { // a reaper killed before FinishDeletes deletes again
		if err := e.b.Delete(ctx, claimed...); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.meta.FinishDeletes(ctx, []string{dead.ID}); err != nil {
		t.Fatal(err)
	}
	if e.live(dead.ID) || e.live(kept.ID) != true || e.liveBytes() != 3000 {
		t.Fatalf("after the reaper: dead indexed %v, kept indexed %v, live %d; want false, true, 3000", e.live(dead.ID), e.live(kept.ID), e.liveBytes())
	}
	u := e.records().usage[0]
	if u.Dead() < 7000 {
		t.Fatalf("usage %+v: the reaped blob is not counted dead", u)
	}
}

// TestUsageFileMigrates: usage records in a file of their own (as
// earlier versions kept them) are copied into the metadata database at
// Open, unchanged, and the file is removed. A crash after the copy
// committed and before the file was removed copies nothing again: the
// newer records stay.
func TestUsageFileMigrates(t *testing.T) {
	e := newUsageEnv(t)
	e.open(func(m *local.Meta) Journal { return fileJournal{m} })
	var refs []store.BlobRef
	for _, n := range []int{1000, 200000, 5000} {
		refs = append(refs, e.write(n))
	}
	if err := e.b.Delete(ctx, refs[1]); err != nil {
		t.Fatal(err)
	}
	vol := refs[0].Extents[0].Volume
	if err := e.b.usage.setState("feed", stateRetired); err != nil {
		t.Fatal(err)
	}
	e.close() // records the holes of the last short stripe
	if _, err := os.Stat(e.cfg.UsagePath); err != nil {
		t.Fatalf("no usage file written: %v", err)
	}
	e.open(func(m *local.Meta) Journal { return fileJournal{m} })
	old := e.records()
	if len(old.usage) != 1 || old.usage[0].Live != 6000 || old.usage[0].Holes == 0 || len(old.blobs[vol]) != 2 || old.states["feed"] != stateRetired {
		t.Fatalf("records before the migration: %+v", old)
	}
	e.close()
	stale, err := os.ReadFile(e.cfg.UsagePath)
	if err != nil {
		t.Fatal(err)
	}

	e.open(nil)
	if got := e.records(); !got.equal(old) {
		t.Fatalf("records after the migration:\n%+v\nwant\n%+v", got, old)
	}
	if _, err := os.Stat(e.cfg.UsagePath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the migrated file is still there: %v", err)
	}
	if e.b.Keep("feed") {
		t.Fatal("a retired volume's state was lost by the migration")
	}
	// Records change after the migration; then the file comes back, as
	// after a crash between the copy's commit and the file's removal.
	e.write(4000)
	e.close() // the holes of the last stripe and the stream at reopen
	e.open(nil)
	newer := e.records()
	e.close()
	if err := os.WriteFile(e.cfg.UsagePath, stale, 0o600); err != nil {
		t.Fatal(err)
	}
	e.open(nil)
	if got := e.records(); !got.equal(newer) {
		t.Fatalf("a file migrated twice changed the records:\n%+v\nwant\n%+v", got, newer)
	}
	if _, err := os.Stat(e.cfg.UsagePath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the migrated file is still there: %v", err)
	}
}

// TestUsageFileUnreadable: a usage file that is not a database fails
// Open with an error naming it and is left in place, the metadata
// unmarked, for the operator to look at.
func TestUsageFileUnreadable(t *testing.T) {
	e := newUsageEnv(t)
	if err := os.WriteFile(e.cfg.UsagePath, bytes.Repeat([]byte("not bolt"), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	meta, err := local.OpenMeta(filepath.Join(e.dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	e.cfg.Journal = meta
	if b, err := Open(e.cfg); err == nil {
		b.Close()
		t.Fatal("Open migrated a file that is not a database")
	} else if !bytes.Contains([]byte(err.Error()), []byte(e.cfg.UsagePath)) {
		t.Fatalf("error %q does not name the file", err)
	}
	if _, err := os.Stat(e.cfg.UsagePath); err != nil {
		t.Fatalf("the unreadable file was removed: %v", err)
	}
	err = meta.View(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(usageRoot).Get(usageMigrated) != nil {
			return errors.New("marked migrated")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
