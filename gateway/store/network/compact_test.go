package network

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// fakeRetirer records the volumes whose orders compaction gives up; with
// fail set it refuses, as an unreachable chain does.
type fakeRetirer struct {
	mu      sync.Mutex
	retired []string
	fail    bool
}

func (f *fakeRetirer) Retire(_ context.Context, v VolumeRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("chain unreachable")
	}
	f.retired = append(f.retired, v.Hex())
	return nil
}

func (f *fakeRetirer) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.retired...)
}

// compactEnv is a network store under crypt.Blobs with real metadata, so
// that objects are written, deleted and read as the gateway does.
type compactEnv struct {
	t     testing.TB
	dir   string
	meta  *local.Meta
	b     *Blobs
	blobs *crypt.Blobs
	cfg   Config
	want  map[string][]byte
}

var compactMaster = bytes.Repeat([]byte{7}, 32)

func newCompactEnv(t *testing.T, rt Retirer) *compactEnv {
	dir := t.TempDir()
	e := &compactEnv{t: t, dir: dir, want: map[string][]byte{}}
	e.cfg = Config{Dir: filepath.Join(dir, "net"), Master: compactMaster, Layout: volume.Layout{K: 2, M: 1},
		UsagePath: filepath.Join(dir, "volumes.db"), MaxStripes: 8,
		Compact: CompactConfig{Threshold: 0.5, MinAge: time.Nanosecond, Retirer: rt}}
	e.open()
	if err := e.meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	return e
}

// open (re)opens the metadata and the store, as a restarted gateway does.
func (e *compactEnv) open() {
	var err error
	if e.meta, err = local.OpenMeta(filepath.Join(e.dir, "meta.db")); err != nil {
		e.t.Fatal(err)
	}
	e.cfg.Journal = e.meta
	if e.b, err = Open(e.cfg); err != nil {
		e.t.Fatal(err)
	}
	e.b.SetRelocator(e.meta)
	if e.blobs, err = crypt.New(e.b, compactMaster); err != nil {
		e.t.Fatal(err)
	}
}

func (e *compactEnv) close() {
	if e.b != nil {
		e.b.Close()
		e.meta.Close()
		e.b = nil
	}
}

func (e *compactEnv) put(key string, n int) store.Object {
	e.t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	ref, err := store.WriteBlob(ctx, e.blobs, bytes.NewReader(data), int64(n), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	obj, _, err := e.meta.PutObject(ctx, "b", store.Object{Key: key, Size: int64(n), Parts: []store.Part{{Number: 1, Size: int64(n), Blob: ref}}}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.want[key] = data
	return obj
}

// del deletes an object and its blob's bytes, as the reaper does.
func (e *compactEnv) del(key string) {
	e.t.Helper()
	_, freed, err := e.meta.DeleteObject(ctx, "b", key, "")
	if err != nil {
		e.t.Fatal(err)
	}
	claimed, err := e.meta.ClaimDeletes(ctx, time.Now().Add(time.Hour), idsOf(freed), len(freed), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.blobs.Delete(ctx, claimed...); err != nil {
		e.t.Fatal(err)
	}
	if err := e.meta.FinishDeletes(ctx, idsOf(claimed)); err != nil {
		e.t.Fatal(err)
	}
	delete(e.want, key)
}

// mostlyDead writes key, 300 KiB over 3 stripes of the first volume (8
// stripes of 128 KiB), then 5 objects that fill that volume and die, and
// one that goes to a new volume: it returns key's object and the first
// volume, whose live bytes are then key's alone.
func (e *compactEnv) mostlyDead(t *testing.T, key string) (store.Object, string) {
	t.Helper()
	obj := e.put(key, 300<<10)
	old := obj.Parts[0].Blob.Extents[0].Volume
	for i := range 5 {
		e.put(fmt.Sprintf("o%d", i), 100<<10)
	}
	e.put("next", 10)
	if v := openVol(e.b); v == nil || v.Hex == old {
		t.Fatal("the first volume is still the open one")
	}
	for i := range 5 {
		e.del(fmt.Sprintf("o%d", i))
	}
	return obj, old
}

func idsOf(refs []store.BlobRef) []string {
	var ids []string
	for _, r := range refs {
		ids = append(ids, r.ID)
	}
	return ids
}

// readAll checks that every object reads back byte-identical.
func (e *compactEnv) readAll(what string) {
	e.t.Helper()
	for key, data := range e.want {
		obj, err := e.meta.GetObject(ctx, "b", key, "")
		if err != nil {
			e.t.Fatalf("%s: %s: %v", what, key, err)
		}
		rc, err := store.OpenObject(ctx, e.blobs, &obj, 0, obj.Size)
		if err != nil {
			e.t.Fatalf("%s: open %s: %v", what, key, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			e.t.Fatalf("%s: %s reads back %d bytes (%v), want %d identical", what, key, len(got), err, len(data))
		}
	}
}

func (e *compactEnv) usage(vol string) VolumeUsage {
	us, err := e.b.Usage()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, u := range us {
		if u.Volume == vol {
			return u
		}
	}
	return VolumeUsage{Volume: vol}
}

// TestCompactionMovesLiveBlobs: a mostly-dead volume's live blobs move to
// the open volume, every object reads back byte-identical before and after
// restarts, a leftover of a PUT whose metadata never committed is counted
// dead, the relocation is in the metadata journal, the old volume's order
// is given up and its local copy removed. A pass stopped after each step
// (as a gateway killed there) loses nothing and the next pass finishes the
// work; live bytes add up throughout (no blob counted twice or freed
// twice).
func TestCompactionMovesLiveBlobs(t *testing.T) {
	rt := &fakeRetirer{}
	e := newCompactEnv(t, rt)
	// The first volume holds 8 stripes of 128 KiB; each PUT ends its
	// stripe (short, format v2): 7 objects, then the leftover, fill it.
	var objs []store.Object
	for i := range 7 {
		objs = append(objs, e.put(fmt.Sprintf("o%d", i), 100<<10+i))
	}
	old := objs[0].Parts[0].Blob.Extents[0].Volume
	// A blob whose PUT died before its metadata: no record names it
	// (it was committed fresh, without a pending record).
	leftover, err := store.WriteBlob(ctx, e.blobs, bytes.NewReader(make([]byte, 5000)), 5000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if leftover.Extents[0].Volume != old {
		t.Fatalf("leftover went to %s, not the first volume %s", leftover.Extents[0].Volume, old)
	}
	if _, st, err := e.meta.Blob(ctx, leftover.ID); err != nil || st != local.BlobUnknown {
		t.Fatalf("the leftover is known to the metadata: %v %v", st, err)
	}
	// Fill the volume so that later writes go to a new one.
	for i := 7; i < 12; i++ {
		e.put(fmt.Sprintf("o%d", i), 100<<10)
	}
	if e.b.open == nil || e.b.open.Hex == old {
		t.Fatal("the first volume is still the open one")
	}
	var oldKeys []string
	for key := range e.want {
		obj, _ := e.meta.GetObject(ctx, "b", key, "")
		if obj.Parts[0].Blob.Extents[0].Volume == old {
			oldKeys = append(oldKeys, key)
		}
	}
	// Most of the old volume dies.
	keep := oldKeys[:2]
	for _, key := range oldKeys[2:] {
		e.del(key)
	}
	e.readAll("before compaction")
	before := e.usage(old)
	if before.Dead() < before.Stream/2 {
		t.Fatalf("old volume %+v is not mostly dead", before)
	}

	// A pass stopped once the copies are durable: nothing switched.
	if _, err := e.b.compact(ctx, func(step string) error {
		if step == "copied" {
			return errors.New("killed")
		}
		return nil
	}); err == nil {
		t.Fatal("the stopped pass reported success")
	}
	e.close()
	e.open()
	e.readAll("after a pass stopped before the switch")
	for _, key := range keep {
		obj, _ := e.meta.GetObject(ctx, "b", key, "")
		if _, moved, _ := e.meta.Relocated(ctx, obj.Parts[0].Blob.ID); moved {
			t.Fatalf("%s relocated by a pass stopped before the switch", key)
		}
	}
	// A pass stopped right after the metadata switch.
	if _, err := e.b.compact(ctx, func(step string) error {
		if step == "relocated" {
			return errors.New("killed")
		}
		return nil
	}); err == nil {
		t.Fatal("the stopped pass reported success")
	}
	e.close()
	e.open()
	e.readAll("after a pass stopped after the switch")
	if len(rt.list()) != 0 {
		t.Fatalf("an order was given up before its volume was empty: %v", rt.list())
	}
	// A pass stopped when the volume is marked retiring, with the chain
	// refusing: the next pass retires it.
	rt.fail = true
	if _, err := e.b.Compact(ctx); err == nil {
		t.Fatal("a pass whose order cancel failed reported success")
	}
	rt.fail = false
	e.close()
	e.open()
	e.readAll("after a failed retire")
	st, err := e.b.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := rt.list(); len(got) != 1 || got[0] != old {
		t.Fatalf("retired %v, want [%s] (stats %+v)", got, old, st)
	}
	if e.b.Keep(old) {
		t.Fatal("a retired volume's order is still to be kept")
	}
	if _, err := os.Stat(filepath.Join(e.cfg.Dir, "volumes", old)); !os.IsNotExist(err) {
		t.Fatalf("the retired volume's local copy is still there: %v", err)
	}
	e.readAll("after compaction")
	for _, key := range keep {
		obj, _ := e.meta.GetObject(ctx, "b", key, "")
		es, moved, err := e.meta.Relocated(ctx, obj.Parts[0].Blob.ID)
		if err != nil || !moved || es[0].Volume == old {
			t.Fatalf("%s: relocated %v to %+v (%v)", key, moved, es, err)
		}
	}
	// The relocations are in the metadata journal (for the metadata log).
	batch, err := e.meta.TakeJournal(ctx, 1000, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	relocs := 0
	for _, c := range batch.Changes {
		if c.Kind == local.MarkReloc && c.Record != nil {
			relocs++
		}
	}
	if relocs != len(keep) {
		t.Fatalf("%d relocations in the journal, want %d", relocs, len(keep))
	}
	// Deleting everything leaves nothing live anywhere: each blob was
	// counted once, where it lives.
	e.close()
	e.open()
	e.readAll("after a restart")
	for key := range e.want {
		e.del(key)
	}
	us, err := e.b.Usage()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Live != 0 {
			t.Fatalf("volume %s has %d live bytes after every object was deleted", u.Volume, u.Live)
		}
	}
}

// TestCompactionWaitsMinAge: a volume with a blob committed less than
// MinAge ago is not compacted (a write may still be on its way to the
// metadata); once old enough it is.
func TestCompactionWaitsMinAge(t *testing.T) {
	rt := &fakeRetirer{}
	e := newCompactEnv(t, rt)
	e.cfg.Compact.MinAge = time.Hour
	e.close()
	e.open()
	for i := range 10 {
		e.put(fmt.Sprintf("o%d", i), 100<<10)
	}
	obj, _ := e.meta.GetObject(ctx, "b", "o0", "")
	old := obj.Parts[0].Blob.Extents[0].Volume
	for i := range 10 {
		key := fmt.Sprintf("o%d", i)
		o, _ := e.meta.GetObject(ctx, "b", key, "")
		if o.Parts[0].Blob.Extents[0].Volume == old && i > 0 {
			e.del(key)
		}
	}
	if _, err := e.b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rt.list()) != 0 || !e.b.Keep(old) {
		t.Fatal("a volume written within MinAge was compacted")
	}
	// Old enough: compacted.
	e.cfg.Compact.MinAge = time.Nanosecond
	e.close()
	e.open()
	if _, err := e.b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rt.list(); len(got) != 1 || got[0] != old {
		t.Fatalf("retired %v, want the dead volume %s", got, old)
	}
	e.readAll("after compaction")
}

// BenchmarkCompactionPass measures one compaction pass that moves 30 MiB
// of live blobs (256 of 120 KiB, every other object of a full 64 MiB
// volume deleted) to the open volume, on local cores (no hosters): the
// cost of the gateway's side of compaction (read, re-append, fsync,
// metadata switch, usage update). Run with -benchtime 2x.
func BenchmarkCompactionPass(b *testing.B) {
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		e := &compactEnv{t: b, dir: dir, want: map[string][]byte{}}
		e.cfg = Config{Dir: filepath.Join(dir, "net"), Master: compactMaster, Layout: volume.Layout{K: 2, M: 1},
			UsagePath: filepath.Join(dir, "volumes.db"), MaxStripes: 512, FlushDelay: time.Millisecond,
			Compact: CompactConfig{Threshold: 0.4, MinAge: time.Nanosecond, MaxBytes: 1 << 30, Retirer: &fakeRetirer{}}}
		e.open()
		if err := e.meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
			b.Fatal(err)
		}
		// 512 objects of 120 KiB, one after the other: each takes one
		// stripe of 128 KiB, 512 stripes fill the volume.
		for i := range 512 {
			e.put(fmt.Sprintf("o%03d", i), 120<<10)
		}
		e.put("next", 10) // a new open volume
		for i := 0; i < 512; i += 2 {
			e.del(fmt.Sprintf("o%03d", i))
		}
		b.StartTimer()
		st, err := e.b.Compact(ctx)
		b.StopTimer()
		if err != nil || st.Retired != 1 {
			b.Fatalf("pass %+v: %v", st, err)
		}
		b.ReportMetric(float64(st.Bytes)/(1<<20), "MiB-moved")
		e.readAll("after compaction")
		e.close()
		b.StartTimer()
	}
}

// TestRetireWaitsForReads: a read that began before compaction switched
// its blob away may still fetch from the old volume; while it is open the
// volume is not given up (its order stays, its cores stay), the read ends
// byte-identical, reads that begin after the switch use the new extents,
// and the first pass after the read is closed retires the volume.
func TestRetireWaitsForReads(t *testing.T) {
	rt := &fakeRetirer{}
	e := newCompactEnv(t, rt)
	// The first volume (8 stripes of 128 KiB): one object over 3
	// stripes, then 5 that fill it and die.
	big, old := e.mostlyDead(t, "big")
	// A read begins: only its first bytes are taken before the pass.
	rc, err := store.OpenObject(ctx, e.blobs, &big, 0, big.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 100)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	st, err := e.b.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Moved != 1 {
		t.Fatalf("pass %+v: the live object was not moved", st)
	}
	if got := rt.list(); len(got) != 0 || st.Retired != 0 {
		t.Fatalf("the volume was given up (%v, %+v) while a read of it was open", got, st)
	}
	e.readAll("reads that begin after the switch")
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("the read open across the pass: %v", err)
	}
	if !bytes.Equal(append(head, rest...), e.want["big"]) {
		t.Fatal("the read open across the pass reads back wrong bytes")
	}
	// Once it is closed, the next pass gives the volume up.
	rc.Close()
	if st, err = e.b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rt.list(); len(got) != 1 || got[0] != old || st.Retired != 1 {
		t.Fatalf("retired %v (%+v), want [%s] once the read was closed", got, st, old)
	}
	if _, err := os.Stat(filepath.Join(e.cfg.Dir, "volumes", old)); !os.IsNotExist(err) {
		t.Fatalf("the retired volume's local copy is still there: %v", err)
	}
	e.readAll("after the volume was retired")
}

// journalShipper is the metadata as the gateway wires it with the
// metadata log, reduced to what compaction sees (ShipWatcher): the mark
// is the real journal's sequence, and ship takes the journal and clears
// it, as a sync of the log does, recording the batch's sequence as
// shipped.
type journalShipper struct {
	*local.Meta
	mu      sync.Mutex
	shipped uint64
}

func (j *journalShipper) CommitMark(ctx context.Context) (uint64, error) {
	return j.Meta.JournalSeq(ctx)
}

func (j *journalShipper) Shipped(mark uint64) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.shipped >= mark
}

func (j *journalShipper) ship(t *testing.T) {
	t.Helper()
	jb, err := j.Meta.TakeJournal(ctx, 1<<20, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Meta.ClearJournal(ctx, jb); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	j.shipped = jb.Seq
	j.mu.Unlock()
}

// TestRetireWaitsForMetadataLog: with a metadata log (the Relocator is a
// ShipWatcher), a volume whose blobs were all relocated is not given up
// while the log has not shipped the relocations (a disaster then would
// leave a recoverable metadata naming a cancelled volume); passes before
// the ship leave its order and local copy, the first pass after it
// retires it.
func TestRetireWaitsForMetadataLog(t *testing.T) {
	rt := &fakeRetirer{}
	e := newCompactEnv(t, rt)
	js := &journalShipper{Meta: e.meta}
	e.b.SetRelocator(js)
	keep, old := e.mostlyDead(t, "keep")
	js.ship(t) // everything before compaction is shipped
	st, err := e.b.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Moved != 1 {
		t.Fatalf("pass %+v: the live object was not moved", st)
	}
	if es, moved, err := e.meta.Relocated(ctx, keep.Parts[0].Blob.ID); err != nil || !moved || es[0].Volume == old {
		t.Fatalf("relocated %v to %+v (%v)", moved, es, err)
	}
	for range 2 {
		if st, err = e.b.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if got := rt.list(); len(got) != 0 || st.Retired != 0 || !e.b.Keep(old) {
			t.Fatalf("the volume was given up (%v, %+v) before the metadata log shipped its relocation", got, st)
		}
	}
	if _, err := os.Stat(filepath.Join(e.cfg.Dir, "volumes", old)); err != nil {
		t.Fatalf("the volume's local copy is gone before it was given up: %v", err)
	}
	e.readAll("while the volume waits for the log")
	js.ship(t)
	if st, err = e.b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rt.list(); len(got) != 1 || got[0] != old || st.Retired != 1 {
		t.Fatalf("retired %v (%+v), want [%s] once the log shipped", got, st, old)
	}
	e.readAll("after the volume was retired")
}
