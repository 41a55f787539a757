package network

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// TestFreshBlobs: with the metadata as journal, a committed blob is
// fresh: no pending record, no usage file, not live; the metadata commit
// that references it makes it live and indexed, in that commit (a commit
// refused by its check records nothing, and the blob can still be
// referenced). A blob whose PUT dies before its metadata commit (the
// gateway killed, then restarted) is known to no record and counted
// dead: the volume's stream, recorded from the cores at the restart,
// covers it. A fresh blob is refused once the store is closed; a
// reference read back from metadata is never fresh, and once its blob is
// deleted a commit that names it is refused, fresh or not.
func TestFreshBlobs(t *testing.T) {
	e := newUsageEnv(t)
	e.open(nil)
	ref := e.write(3000)
	if _, err := os.Stat(e.cfg.UsagePath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a usage file was created beside the metadata: %v", err)
	}
	if !ref.Fresh || e.live(ref.ID) || e.state(ref.ID) != local.BlobUnknown || e.liveBytes() != 0 {
		t.Fatalf("a committed blob: fresh %v, indexed %v, state %v, live %d; want fresh, not indexed, unknown, 0",
			ref.Fresh, e.live(ref.ID), e.state(ref.ID), e.liveBytes())
	}
	refused := errors.New("precondition failed")
	obj := store.Object{Key: "k", Size: 3000, Parts: []store.Part{{Number: 1, Size: 3000, Blob: ref}}}
	if err := e.meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.meta.PutObject(ctx, "b", obj, func(*store.Object) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("a refused commit: %v", err)
	}
	if e.live(ref.ID) || e.liveBytes() != 0 {
		t.Fatal("a refused metadata commit recorded the blob")
	}
	if _, _, err := e.meta.PutObject(ctx, "b", obj, nil); err != nil {
		t.Fatal(err)
	}
	if !e.live(ref.ID) || e.state(ref.ID) != local.BlobReferenced || e.liveBytes() != 3000 {
		t.Fatalf("a referenced blob: indexed %v, state %v, live %d; want indexed, live, 3000", e.live(ref.ID), e.state(ref.ID), e.liveBytes())
	}
	err := e.meta.View(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(usageRoot).Bucket(bucketBlobs).Get(blobKey(ref.Extents[0].Volume, ref.ID)) == nil {
			return errors.New("the blob is not indexed in the metadata database")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A second reference (a copy) counts once.
	if _, _, err := e.meta.PutObject(ctx, "b", store.Object{Key: "copy", Size: 3000, Parts: obj.Parts}, nil); err != nil || e.liveBytes() != 3000 {
		t.Fatalf("a copy: %v, live %d; want 3000", err, e.liveBytes())
	}

	// The gateway killed between a blob's commit and its metadata's: its
	// cores closed without Close, so nothing is recorded at shutdown.
	dead := e.write(7000)
	e.b.mu.Lock()
	v := e.b.open
	e.b.mu.Unlock()
	v.close()
	if e.b.stopBg != nil {
		e.b.stopBg()
		e.b.bg.Wait()
	}
	e.b = nil
	e.close() // the metadata
	e.open(nil)
	if e.live(dead.ID) || e.state(dead.ID) != local.BlobUnknown || e.liveBytes() != 3000 {
		t.Fatalf("after a crash: indexed %v, state %v, live %d; want not indexed, unknown, 3000", e.live(dead.ID), e.state(dead.ID), e.liveBytes())
	}
	u := e.records().usage[0]
	if end := dead.Extents[0].Offset + dead.Extents[0].Length; u.Stream < end || u.Dead() < 7000 {
		t.Fatalf("usage %+v after a crash: want the stream past %d and the leftover's 7000 bytes dead", u, end)
	}
	// Its ref, if a commit still came with it, is refused: no store is
	// there to record it.
	e.b.Close()
	if _, _, err := e.meta.PutObject(ctx, "b", store.Object{Key: "late", Size: 7000, Parts: []store.Part{{Number: 1, Size: 7000, Blob: dead}}}, nil); !errors.Is(err, store.ErrNoSuchBlob) {
		t.Fatalf("a fresh blob referenced with no store open: %v, want %v", err, store.ErrNoSuchBlob)
	}
	e.b = nil
	e.close()
	e.open(nil)
	// A reference read back from metadata is not fresh: once its blob
	// is gone (both objects deleted, the reaper done), a commit that
	// names it is refused, as is one that passes it off as fresh.
	got, err := e.meta.GetObject(ctx, "b", "k", "")
	if err != nil || got.Parts[0].Blob.Fresh {
		t.Fatalf("read back: %+v %v", got.Parts, err)
	}
	var freed []store.BlobRef
	for _, k := range []string{"k", "copy"} {
		_, f, err := e.meta.DeleteObject(ctx, "b", k, "")
		if err != nil {
			t.Fatal(err)
		}
		freed = append(freed, f...)
	}
	if len(freed) != 1 || freed[0].ID != ref.ID {
		t.Fatalf("freed %+v, want %s", freed, ref.ID)
	}
	claimed, err := e.meta.ClaimDeletes(ctx, time.Now().Add(time.Hour), []string{ref.ID}, 1, nil)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %+v: %v", claimed, err)
	}
	if err := e.b.Delete(ctx, claimed...); err != nil {
		t.Fatal(err)
	}
	if err := e.meta.FinishDeletes(ctx, []string{ref.ID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.meta.PutObject(ctx, "b", store.Object{Key: "again", Size: 3000, Parts: got.Parts}, nil); !errors.Is(err, store.ErrNoSuchBlob) {
		t.Fatalf("a read-back reference to a deleted blob: %v, want %v", err, store.ErrNoSuchBlob)
	}
	forged := slices.Clone(got.Parts)
	forged[0].Blob.Fresh = true
	if _, _, err := e.meta.PutObject(ctx, "b", store.Object{Key: "again", Size: 3000, Parts: forged}, nil); !errors.Is(err, store.ErrNoSuchBlob) {
		t.Fatalf("a deleted blob passed off as fresh: %v, want %v", err, store.ErrNoSuchBlob)
	}
	if _, err := e.meta.GetObject(ctx, "b", "again", ""); !errors.Is(err, store.ErrNoSuchKey) {
		t.Fatalf("a refused object exists: %v", err)
	}
}

// TestFreshBlobRefusedInCompactedVolume: a fresh blob of a volume is
// recorded by a metadata commit that comes before compaction marks the
// volume (it is then in the list the pass moves, and reads back after the
// volume is retired); a commit that comes once the volume is marked is
// refused (ErrNoSuchBlob), so compaction never gives up a blob that
// metadata references. Both commits happen inside the pass, around the
// mark (the PUTs were still between their blobs' commits and their
// metadata's).
func TestFreshBlobRefusedInCompactedVolume(t *testing.T) {
	rt := &fakeRetirer{}
	e := newCompactEnv(t, rt)
	e.put("o0", 100<<10)
	obj, _ := e.meta.GetObject(ctx, "b", "o0", "")
	old := obj.Parts[0].Blob.Extents[0].Volume
	lateData := map[string][]byte{}
	lateRef := map[string]store.BlobRef{}
	for _, k := range []string{"before", "after"} {
		data := make([]byte, 5000)
		rand.Read(data)
		ref, err := store.WriteBlob(ctx, e.blobs, bytes.NewReader(data), 5000, nil)
		if err != nil || ref.Extents[0].Volume != old {
			t.Fatalf("late blob %+v: %v; want it in %s", ref.Extents, err, old)
		}
		lateData[k], lateRef[k] = data, ref
	}
	lateObj := func(k string) store.Object {
		return store.Object{Key: "late-" + k, Size: 5000, Parts: []store.Part{{Number: 1, Size: 5000, Blob: lateRef[k]}}}
	}
	for i := 1; i < 12; i++ {
		e.put(fmt.Sprintf("o%d", i), 100<<10+i)
	}
	for i := 1; i < 7; i++ {
		e.del(fmt.Sprintf("o%d", i))
	}
	// MinAge is 1 ns here: the pass does not wait for the late PUTs.
	var steps []string
	_, err := e.b.compact(ctx, func(step string) error {
		switch step {
		case "marking " + old:
			steps = append(steps, step)
			if _, _, err := e.meta.PutObject(ctx, "b", lateObj("before"), nil); err != nil {
				return fmt.Errorf("a fresh blob referenced before the mark: %w", err)
			}
			e.want["late-before"] = lateData["before"]
		case "marked " + old:
			steps = append(steps, step)
			if _, _, err := e.meta.PutObject(ctx, "b", lateObj("after"), nil); !errors.Is(err, store.ErrNoSuchBlob) {
				return fmt.Errorf("a fresh blob of a marked volume was referenced: %v", err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 {
		t.Fatalf("the pass did not mark %s: steps %v", old, steps)
	}
	if got := rt.list(); len(got) != 1 || got[0] != old {
		t.Fatalf("retired %v, want %s", got, old)
	}
	if _, moved, err := e.meta.Relocated(ctx, lateRef["before"].ID); err != nil || !moved {
		t.Fatalf("the blob referenced before the mark was not moved out of the retired volume: %v", err)
	}
	if _, err := e.meta.GetObject(ctx, "b", "late-after", ""); !errors.Is(err, store.ErrNoSuchKey) {
		t.Fatalf("the refused object exists: %v", err)
	}
	e.readAll("after compaction")

	// With MinAge, a volume a blob was appended to within it is left
	// alone (that blob's metadata commit may still come).
	e.cfg.Compact.MinAge = time.Hour
	e.close()
	e.open()
	// A volume written from its start to its end by this process.
	openHex := func() string {
		e.b.mu.Lock()
		defer e.b.mu.Unlock()
		if e.b.open == nil {
			return ""
		}
		return e.b.open.Hex
	}
	n := 0
	put := func() string {
		e.put(fmt.Sprintf("n%d", n), 100<<10)
		o, _ := e.meta.GetObject(ctx, "b", fmt.Sprintf("n%d", n), "")
		n++
		return o.Parts[0].Blob.Extents[0].Volume
	}
	first := put()
	second := first
	for second == first {
		second = put()
	}
	for openHex() == second {
		put()
	}
	// Its blobs' index entries are made old; its append is recent.
	err = e.meta.Update(ctx, func(tx *bolt.Tx) error {
		ix := tx.Bucket(usageRoot).Bucket(bucketBlobs)
		var keys [][]byte
		c := ix.Cursor()
		pfx := []byte(second + "/")
		for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			vb, _ := parseBlob(second, k, ix.Get(k))
			if err := ix.Put(k, blobVal(vb.off, vb.n, time.Now().Add(-2*time.Hour))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if o, _ := e.meta.GetObject(ctx, "b", fmt.Sprintf("n%d", i), ""); o.Parts[0].Blob.Extents[0].Volume == second {
			e.del(fmt.Sprintf("n%d", i))
		}
	}
	if u := e.usage(second); u.Live != 0 || u.Stored() == 0 {
		t.Fatalf("the second volume %+v is not all dead", u)
	}
	if _, err := e.b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rt.list()) != 1 || e.b.volState(second) != "" {
		t.Fatalf("a volume appended to within MinAge was compacted: retired %v, state %q", rt.list(), e.b.volState(second))
	}
}

// TestUsageFileMigrates: usage records in a file of their own (as
// earlier versions kept them) are copied into the metadata database at
// Open, unchanged, and the file is set aside as volumes.db.migrated. A
// crash after the copy committed and before the file was renamed copies
// nothing again: the newer records stay.
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
	if kept, err := os.ReadFile(e.cfg.UsagePath + ".migrated"); err != nil || !bytes.Equal(kept, stale) {
		t.Fatalf("the migrated file was not set aside unchanged: %v", err)
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
	if kept, err := os.ReadFile(e.cfg.UsagePath + ".migrated"); err != nil || !bytes.Equal(kept, stale) {
		t.Fatalf("the migrated file was not set aside unchanged: %v", err)
	}
}

// TestUsageFileUnreadable: a usage file that is not a database fails
// Open with an error naming it and is left in place, the metadata
// without usage records (not even empty ones), for the operator to look
// at; once the file is removed, the next Open rebuilds the records from
// the metadata (a metadata without records, as a recovered one).
func TestUsageFileUnreadable(t *testing.T) {
	e := newUsageEnv(t)
	// A metadata that references a blob and has no usage records.
	e.open(nil)
	if err := e.meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	ref := e.write(3000)
	if _, _, err := e.meta.PutObject(ctx, "b", store.Object{Key: "k", Size: 3000, Parts: []store.Part{{Number: 1, Size: 3000, Blob: ref}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.meta.Update(ctx, func(tx *bolt.Tx) error { return tx.DeleteBucket(usageRoot) }); err != nil {
		t.Fatal(err)
	}
	e.close()
	if err := os.WriteFile(e.cfg.UsagePath, bytes.Repeat([]byte("not bolt"), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	meta, err := local.OpenMeta(filepath.Join(e.dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
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
		if tx.Bucket(usageRoot) != nil {
			return errors.New("usage records created by a failed migration")
		}
		return nil
	})
	meta.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The operator removes the file: the records are rebuilt.
	if err := os.Remove(e.cfg.UsagePath); err != nil {
		t.Fatal(err)
	}
	e.open(nil)
	if !e.live(ref.ID) || e.liveBytes() != 3000 {
		t.Fatalf("after the file was removed: indexed %v, live %d; want the referenced blob's 3000", e.live(ref.ID), e.liveBytes())
	}
}

// TestFreshBlobRefusedOnceRecordedOrDeleted: recordFresh refuses a blob
// that is already indexed in its volume or that was deleted from it (a
// deleted key): such a blob is not fresh, and recording it would count its
// bytes live again.
func TestFreshBlobRefusedOnceRecordedOrDeleted(t *testing.T) {
	e := newUsageEnv(t)
	e.open(nil)
	if err := e.meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, ref store.BlobRef) error {
		_, _, err := e.meta.PutObject(ctx, "b", store.Object{Key: key, Size: ref.Size, Parts: []store.Part{{Number: 1, Size: ref.Size, Blob: ref}}}, nil)
		return err
	}
	indexed := e.write(3000)
	if err := e.meta.Update(ctx, func(tx *bolt.Tx) error { return e.b.recordFresh(tx, indexed) }); err != nil {
		t.Fatal(err)
	}
	if err := put("indexed", indexed); !errors.Is(err, store.ErrNoSuchBlob) {
		t.Fatalf("a fresh blob already indexed: %v, want %v", err, store.ErrNoSuchBlob)
	}
	deleted := e.write(4000)
	if err := e.b.Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	live := e.liveBytes()
	if err := put("deleted", deleted); !errors.Is(err, store.ErrNoSuchBlob) {
		t.Fatalf("a fresh blob deleted once: %v, want %v", err, store.ErrNoSuchBlob)
	}
	if e.live(deleted.ID) || e.liveBytes() != live {
		t.Fatalf("a refused blob was recorded: indexed %v, live %d; want %d", e.live(deleted.ID), e.liveBytes(), live)
	}
	if err := put("ok", e.write(5000)); err != nil || e.liveBytes() != live+5000 {
		t.Fatalf("a fresh blob: %v, live %d; want %d", err, e.liveBytes(), live+5000)
	}
}

// TestCompactedVolumeNotReopened: the volume new blobs last went to is
// not continued after a restart when compaction has marked it (whatever
// its state): it is sealed, and new blobs go to a new volume.
func TestCompactedVolumeNotReopened(t *testing.T) {
	for _, st := range []string{"", stateCompacting, stateRetiring, stateRetired} {
		e := newUsageEnv(t)
		e.open(nil)
		vol := e.write(3000).Extents[0].Volume
		if st != "" {
			if err := e.b.setVolState(vol, st); err != nil {
				t.Fatal(err)
			}
		}
		e.close()
		e.open(nil)
		next := e.write(3000).Extents[0].Volume
		_, err := os.Stat(filepath.Join(e.cfg.Dir, "volumes", vol, "sealed"))
		switch {
		case st == "" && (next != vol || err == nil):
			t.Fatalf("an unmarked volume was not continued: next blob in %s, want %s; sealed: %v", next, vol, err)
		case st != "" && (next == vol || err != nil):
			t.Fatalf("a %s volume was continued: next blob in %s; sealed: %v", st, next, err)
		}
		e.close()
	}
}

// copyTree copies the files under from to to (a volume's cores, as
// gateway recover fetches them).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUsageRebuiltAfterRecover: a gateway recovered from the metadata log
// (a metadata database rebuilt from its changes, the volumes' cores
// fetched, no usage records) gets its usage records rebuilt at its first
// open: per volume the same live bytes, stream, holes and blob index as
// the original's (volumes with a live blob; the others hold nothing the
// metadata references), so that compaction gives up the mostly-dead
// volume there too and every object still reads back. Also when the
// first open crashed between the rebuild's commit and the shapes' (the
// next open records the shapes: the volumes to reshape are kept durably
// until then).
func TestUsageRebuiltAfterRecover(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) { checkUsageRebuiltAfterRecover(t, crash) })
	}
}

func checkUsageRebuiltAfterRecover(t *testing.T, crash bool) {
	rt := &fakeRetirer{}
	e := newCompactEnv(t, rt)
	for i := range 12 {
		e.put(fmt.Sprintf("o%d", i), 100<<10+i)
	}
	old := ""
	var oldKeys []string
	for key := range e.want {
		obj, _ := e.meta.GetObject(ctx, "b", key, "")
		vol := obj.Parts[0].Blob.Extents[0].Volume
		if e.b.open != nil && vol != e.b.open.Hex {
			old = vol
			oldKeys = append(oldKeys, key)
		}
	}
	if old == "" || len(oldKeys) < 4 {
		t.Fatalf("the objects did not fill a volume (%d in sealed ones)", len(oldKeys))
	}
	slices.Sort(oldKeys)
	for _, key := range oldKeys[1:] {
		e.del(key)
	}
	// Restarted: the stream and holes of every volume are recorded.
	e.close()
	e.open()
	orig, err := e.b.Usage()
	if err != nil {
		t.Fatal(err)
	}
	var want []VolumeUsage
	wantBlobs := map[string][]volBlob{}
	for _, u := range orig {
		if u.Live > 0 {
			want = append(want, u)
			if wantBlobs[u.Volume], err = e.b.usage.blobsOf(u.Volume, "", 1<<20); err != nil {
				t.Fatal(err)
			}
		}
	}
	var changes []local.Change
	if err := e.meta.Snapshot(ctx, func(c local.Change) error { changes = append(changes, c); return nil }); err != nil {
		t.Fatal(err)
	}
	e.close()

	// Recovered, as gateway recover does it with its data fetched.
	r := &compactEnv{t: t, dir: t.TempDir(), want: e.want, cfg: e.cfg}
	r.cfg.Dir, r.cfg.UsagePath = filepath.Join(r.dir, "net"), filepath.Join(r.dir, "volumes.db")
	copyTree(t, filepath.Join(e.cfg.Dir, "volumes"), filepath.Join(r.cfg.Dir, "volumes"))
	meta, err := local.OpenMeta(filepath.Join(r.dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := meta.ApplyChanges(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := meta.FinishRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if crash {
		// The first open commits the rebuilt records and dies before
		// it records any shape.
		u, err := openUsage(r.cfg.UsagePath, meta)
		if err != nil {
			t.Fatal(err)
		}
		if len(u.rebuilt) == 0 {
			t.Fatal("nothing rebuilt")
		}
	}
	meta.Close()
	r.open()
	t.Cleanup(r.close)
	got, err := r.b.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("recovered usage\n%+v\nwant\n%+v", got, want)
	}
	for vol, wb := range wantBlobs {
		gb, err := r.b.usage.blobsOf(vol, "", 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(gb, wb, func(a, b volBlob) bool { return a.id == b.id && a.off == b.off && a.n == b.n }) {
			t.Fatalf("volume %s: recovered blob index %+v, want %+v", vol, gb, wb)
		}
	}
	// Opened again: nothing is rebuilt twice.
	r.close()
	r.open()
	if again, err := r.b.Usage(); err != nil || !slices.Equal(again, want) {
		t.Fatalf("usage after a second open: %+v (%v), want %+v", again, err, want)
	}
	r.readAll("recovered")
	if _, err := r.b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rt.list(); !slices.Contains(got, old) {
		t.Fatalf("the recovered gateway retired %v, want the mostly-dead %s", got, old)
	}
	r.readAll("recovered and compacted")
	for key := range r.want {
		obj, _ := r.meta.GetObject(ctx, "b", key, "")
		if es, moved, _ := r.meta.Relocated(ctx, obj.Parts[0].Blob.ID); moved && es[0].Volume == old {
			t.Fatalf("%s still relocated into the retired volume", key)
		}
	}
}

// deletedKeys lists the deleted-blob keys of the usage records.
func deletedKeys(t *testing.T, u *usageDB) []string {
	t.Helper()
	var keys []string
	err := u.view(func(tx *bolt.Tx) error {
		return u.bucket(tx, bucketDeleted).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func keysOf(keys []string, vol string) int {
	n := 0
	for _, k := range keys {
		if strings.HasPrefix(k, vol+"/") {
			n++
		}
	}
	return n
}

// TestDeletedKeysDroppedAtRetirement: the keys that make a retried delete
// count once are one range per volume and go with the volume when
// compaction retires it, so they do not grow forever; a delete retried
// after that changes nothing, and one retried in a volume still in use
// is still subtracted once, across a restart.
func TestDeletedKeysDroppedAtRetirement(t *testing.T) {
	rt := &fakeRetirer{}
	e := newCompactEnv(t, rt)
	for i := range 12 {
		e.put(fmt.Sprintf("o%d", i), 100<<10+i)
	}
	open := e.b.open.Hex
	var oldKeys, openKeys []string
	old := ""
	for key := range e.want {
		obj, _ := e.meta.GetObject(ctx, "b", key, "")
		if vol := obj.Parts[0].Blob.Extents[0].Volume; vol != open {
			old = vol
			oldKeys = append(oldKeys, key)
		} else {
			openKeys = append(openKeys, key)
		}
	}
	if len(oldKeys) < 4 || len(openKeys) < 2 {
		t.Fatalf("objects in the sealed volume %d, in the open one %d", len(oldKeys), len(openKeys))
	}
	slices.Sort(oldKeys)
	// Deletes retried (the reaper after a crash) count once.
	del := func(key string) store.BlobRef {
		obj, _ := e.meta.GetObject(ctx, "b", key, "")
		e.del(key)
		if err := e.blobs.Delete(ctx, obj.Parts[0].Blob); err != nil {
			t.Fatal(err)
		}
		return obj.Parts[0].Blob
	}
	live := func(vol string) int64 { return e.usage(vol).Live }
	wantOld, wantOpen := live(old), live(open)
	var oldRefs []store.BlobRef
	for _, key := range oldKeys[1:] {
		oldRefs = append(oldRefs, del(key))
		wantOld -= oldRefs[len(oldRefs)-1].Extents[0].Length
	}
	openRef := del(openKeys[0])
	wantOpen -= openRef.Extents[0].Length
	if live(old) != wantOld || live(open) != wantOpen {
		t.Fatalf("live after retried deletes: %d and %d, want %d and %d", live(old), live(open), wantOld, wantOpen)
	}
	keys := deletedKeys(t, e.b.usage)
	if keysOf(keys, old) != len(oldRefs) || keysOf(keys, open) != 1 || len(keys) != len(oldRefs)+1 {
		t.Fatalf("deleted keys %v: want %d of %s and one of %s", keys, len(oldRefs), old, open)
	}
	// A pass moves the live blob and retires the volume: its keys go.
	if _, err := e.b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rt.list(), old) {
		t.Fatalf("retired %v, want %s", rt.list(), old)
	}
	keys = deletedKeys(t, e.b.usage)
	if keysOf(keys, old) != 0 || keysOf(keys, open) != 1 {
		t.Fatalf("deleted keys after the retirement: %v, want only the one of %s", keys, open)
	}
	e.readAll("after the retirement")
	// Retried again, after the retirement and a restart.
	e.close()
	e.open()
	before := e.usage(old)
	if err := e.blobs.Delete(ctx, append(oldRefs, openRef)...); err != nil {
		t.Fatal(err)
	}
	if got := e.usage(old); got != before {
		t.Fatalf("a delete retried after the retirement changed the retired volume: %+v, was %+v", got, before)
	}
	if keys := deletedKeys(t, e.b.usage); keysOf(keys, old) != 0 || len(keys) != 1 {
		t.Fatalf("deleted keys after retrying: %v", keys)
	}
	var liveNow int64
	for key := range e.want {
		obj, _ := e.meta.GetObject(ctx, "b", key, "")
		liveNow += obj.Parts[0].Blob.Extents[0].Length
	}
	var total int64
	us, _ := e.b.Usage()
	for _, u := range us {
		total += u.Live
	}
	if total != liveNow {
		t.Fatalf("live bytes %d after retried deletes, want %d (each blob once)", total, liveNow)
	}
	e.readAll("after retried deletes")
}

// TestDeletedKeysMigrate: the deleted-blob keys of an earlier version
// (blob id "/" volume, in a bucket "gone", in the metadata database or in
// a usage file) are moved to the per-volume layout at open, those of
// retired volumes dropped, and the old bucket removed; a delete retried
// after the migration is still subtracted once.
func TestDeletedKeysMigrate(t *testing.T) {
	// toV1 rewrites the keys of deleted (in tx's buckets under root, or
	// top-level when root is nil) as an earlier version wrote them, adds
	// one of the retired volume "feed", and retires it.
	toV1 := func(tx *bolt.Tx, root *bolt.Bucket) error {
		bucket := func(name []byte) *bolt.Bucket {
			if root != nil {
				return root.Bucket(name)
			}
			return tx.Bucket(name)
		}
		var old *bolt.Bucket
		var err error
		if root != nil {
			old, err = root.CreateBucket(bucketGoneV1)
		} else {
			old, err = tx.CreateBucket(bucketGoneV1)
		}
		if err != nil {
			return err
		}
		var keys [][]byte
		bucket(bucketDeleted).ForEach(func(k, _ []byte) error { keys = append(keys, bytes.Clone(k)); return nil })
		for _, k := range keys {
			vol, id, _ := strings.Cut(string(k), "/")
			if err := old.Put([]byte(id+"/"+vol), nil); err != nil {
				return err
			}
			if err := bucket(bucketDeleted).Delete(k); err != nil {
				return err
			}
		}
		if err := old.Put([]byte("someblob/feed"), nil); err != nil {
			return err
		}
		return bucket(bucketState).Put([]byte("feed"), []byte(stateRetired))
	}
	check := func(t *testing.T, e *usageEnv, ref store.BlobRef, live int64) {
		t.Helper()
		vol := ref.Extents[0].Volume
		if keys := deletedKeys(t, e.b.usage); !slices.Equal(keys, []string{vol + "/" + ref.ID}) {
			t.Fatalf("deleted keys after the migration: %v, want [%s/%s]", keys, vol, ref.ID)
		}
		err := e.b.usage.view(func(tx *bolt.Tx) error {
			old := tx.Bucket(bucketGoneV1)
			if root := tx.Bucket(usageRoot); e.b.usage.meta != nil {
				old = root.Bucket(bucketGoneV1)
			}
			if old != nil {
				return errors.New("the old bucket is still there")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.b.Delete(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if got := e.liveBytes(); got != live {
			t.Fatalf("live bytes %d after a delete retried past the migration, want %d", got, live)
		}
	}
	t.Run("metadata", func(t *testing.T) {
		e := newUsageEnv(t)
		e.open(nil)
		refs := []store.BlobRef{e.write(1000), e.write(3000)}
		if err := e.meta.Update(ctx, func(tx *bolt.Tx) error {
			for _, r := range refs {
				if err := e.b.recordFresh(tx, r); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := e.b.Delete(ctx, refs[1]); err != nil {
			t.Fatal(err)
		}
		e.close()
		meta, err := local.OpenMeta(filepath.Join(e.dir, "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		if err := meta.Update(ctx, func(tx *bolt.Tx) error { return toV1(tx, tx.Bucket(usageRoot)) }); err != nil {
			t.Fatal(err)
		}
		meta.Close()
		e.open(nil)
		check(t, e, refs[1], 1000)
	})
	migrateFile := func(t *testing.T, keep bool) {
		e := newUsageEnv(t)
		e.open(func(m *local.Meta) Journal { return fileJournal{m} })
		refs := []store.BlobRef{e.write(1000), e.write(3000)}
		if err := e.b.Delete(ctx, refs[1]); err != nil {
			t.Fatal(err)
		}
		e.close()
		db, err := bolt.Open(e.cfg.UsagePath, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { return toV1(tx, nil) }); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if keep {
			// Still without the records in the metadata: the file's
			// own buckets are moved over.
			e.open(func(m *local.Meta) Journal { return fileJournal{m} })
		} else {
			e.open(nil)
		}
		check(t, e, refs[1], 1000)
	}
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("file kept %v", keep), func(t *testing.T) { migrateFile(t, keep) })
	}
}

// TestDeleteOfUnindexedBlob: deleting a blob that is not indexed (a
// fresh blob no metadata commit referenced, as the reaper deletes after
// a failed PUT) subtracts nothing from its volume's live bytes; a
// referenced blob's delete subtracts its bytes once, however often it is
// retried.
func TestDeleteOfUnindexedBlob(t *testing.T) {
	e := newUsageEnv(t)
	e.open(nil)
	if err := e.meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	kept := e.write(3000)
	if _, _, err := e.meta.PutObject(ctx, "b", store.Object{Key: "k", Size: 3000, Parts: []store.Part{{Number: 1, Size: 3000, Blob: kept}}}, nil); err != nil {
		t.Fatal(err)
	}
	gone := e.write(2000)
	if _, _, err := e.meta.PutObject(ctx, "b", store.Object{Key: "g", Size: 2000, Parts: []store.Part{{Number: 1, Size: 2000, Blob: gone}}}, nil); err != nil {
		t.Fatal(err)
	}
	never := e.write(7000)
	if e.live(never.ID) || e.liveBytes() != 5000 {
		t.Fatalf("before the deletes: live %d, want 5000", e.liveBytes())
	}
	if err := e.b.Delete(ctx, never); err != nil {
		t.Fatal(err)
	}
	if got := e.liveBytes(); got != 5000 {
		t.Fatalf("after deleting a blob no metadata referenced: live %d, want 5000", got)
	}
	if _, _, err := e.meta.DeleteObject(ctx, "b", "g", ""); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.b.Delete(ctx, gone); err != nil {
			t.Fatal(err)
		}
		if got := e.liveBytes(); got != 3000 {
			t.Fatalf("after deleting a referenced blob: live %d, want 3000", got)
		}
	}
}
