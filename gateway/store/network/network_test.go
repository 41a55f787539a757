package network

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

var ctx = context.Background()

// failingShipper refuses to ship while fail is set, as an unreachable
// hoster or a refused order does.
type failingShipper struct{ fail bool }

func (f *failingShipper) Ship(context.Context, *Volume, uint64) error {
	if f.fail {
		return errors.New("hoster unreachable")
	}
	return nil
}

func open(t *testing.T, sh Shipper) (*Blobs, *local.Meta) {
	t.Helper()
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	b, err := Open(Config{Dir: dir, Master: bytes.Repeat([]byte{1}, 32), Layout: volume.Layout{K: 2, M: 1}, Shipper: sh, Journal: meta})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, meta
}

// reference commits metadata that references refs, as a PUT does after
// its blob's commit: with the usage records in the metadata database
// that commit is what makes a fresh blob live.
func reference(t testing.TB, meta *local.Meta, refs ...store.BlobRef) {
	t.Helper()
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "refs"}); err != nil && !errors.Is(err, store.ErrBucketExists) {
		t.Fatal(err)
	}
	for _, r := range refs {
		obj := store.Object{Key: r.ID, Size: r.Size, Parts: []store.Part{{Number: 1, Size: r.Size, Blob: r}}}
		if _, _, err := meta.PutObject(ctx, "refs", obj, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func read(t *testing.T, b *Blobs, ref store.BlobRef) []byte {
	t.Helper()
	rc, err := b.Open(ctx, ref, 0, ref.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestShipFailureSealsVolume: a blob whose flush cannot be shipped is not
// acknowledged, the volume is sealed, and the next blob goes to a new
// volume and reads back.
func TestShipFailureSealsVolume(t *testing.T) {
	sh := &failingShipper{fail: true}
	b, _ := open(t, sh)
	if _, err := store.WriteBlob(ctx, b, bytes.NewReader([]byte("lost")), 4, nil); err == nil {
		t.Fatal("a blob was acknowledged though its stripe was not shipped")
	}
	sealed := b.open
	sh.fail = false
	ref, err := store.WriteBlob(ctx, b, bytes.NewReader([]byte("kept")), 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Extents[0].Volume == sealed.Hex {
		t.Fatal("a blob went to the sealed volume")
	}
	if got := read(t, b, ref); string(got) != "kept" {
		t.Fatalf("read %q", got)
	}
}

// TestExtentsAndLostCores: each blob is one extent of the volume's
// stream, a blob larger than a stripe spans stripes, and each reads back
// exactly, also with a data core lost; with fewer than k cores a read
// fails with ErrDataShort instead of returning wrong bytes.
func TestExtentsAndLostCores(t *testing.T) {
	b, _ := open(t, nil)
	var refs []store.BlobRef
	var datas [][]byte
	for i, n := range []int{10, 70000, 300000, 1} {
		data := bytes.Repeat([]byte{byte('a' + i)}, n)
		ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), int64(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ref.Extents) != 1 || ref.Extents[0].Length != int64(n) {
			t.Fatalf("blob %d: extents %+v", i, ref.Extents)
		}
		refs, datas = append(refs, ref), append(datas, data)
	}
	for i, ref := range refs {
		if got := read(t, b, ref); !bytes.Equal(got, datas[i]) {
			t.Fatalf("blob %d differs", i)
		}
	}
	// Lose data core 0 of the volume (close it and forget it): reads
	// reconstruct from core 1 and the parity core.
	v := b.vols[refs[0].Extents[0].Volume]
	v.Cores[0].Close()
	v.Cores[0] = nil
	for i, ref := range refs {
		if got := read(t, b, ref); !bytes.Equal(got, datas[i]) {
			t.Fatalf("blob %d differs after losing core 0", i)
		}
	}
	v.Cores[1].Close()
	v.Cores[1] = nil
	if _, err := b.Open(ctx, refs[2], 0, refs[2].Size); !errors.Is(err, store.ErrDataShort) {
		t.Fatalf("read with 1 of 3 cores: %v", err)
	}
}

// TestRestartReopensVolume: after a restart new blobs go on in the volume
// that was open (after its last stripe), unless it was sealed; every blob
// reads back.
func TestRestartReopensVolume(t *testing.T) {
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	sh := &failingShipper{}
	cfg := Config{Dir: dir, Master: bytes.Repeat([]byte{1}, 32), Layout: volume.Layout{K: 2, M: 1}, Shipper: sh, Journal: meta}
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first, err := store.WriteBlob(ctx, b, bytes.NewReader([]byte("before the restart")), 18, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()

	b, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	second, err := store.WriteBlob(ctx, b, bytes.NewReader([]byte("after")), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Extents[0].Volume != first.Extents[0].Volume {
		t.Fatal("a restart opened a new volume though the last one has room")
	}
	if second.Extents[0].Offset < first.Extents[0].Offset+first.Extents[0].Length {
		t.Fatalf("the reopened volume overwrote earlier data: %+v after %+v", second.Extents[0], first.Extents[0])
	}
	for _, c := range []struct {
		ref  store.BlobRef
		want string
	}{{first, "before the restart"}, {second, "after"}} {
		if got := read(t, b, c.ref); string(got) != c.want {
			t.Fatalf("read %q, want %q", got, c.want)
		}
	}
	// A failed ship seals the volume: the next start does not reopen it.
	sh.fail = true
	if _, err := store.WriteBlob(ctx, b, bytes.NewReader([]byte("lost")), 4, nil); err == nil {
		t.Fatal("a blob was acknowledged though its stripe was not shipped")
	}
	sh.fail = false
	b.Close()
	b, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	third, err := store.WriteBlob(ctx, b, bytes.NewReader([]byte("third")), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if third.Extents[0].Volume == first.Extents[0].Volume {
		t.Fatal("a sealed volume was reopened")
	}
	if got := read(t, b, first); string(got) != "before the restart" {
		t.Fatalf("read %q", got)
	}
}

// TestUnevenCoresSealed: a crash between the cores' appends leaves cores
// of different lengths; that volume is not reopened for writing.
func TestUnevenCoresSealed(t *testing.T) {
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	cfg := Config{Dir: dir, Master: bytes.Repeat([]byte{1}, 32), Layout: volume.Layout{K: 2, M: 1}, Journal: meta}
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first, err := store.WriteBlob(ctx, b, bytes.NewReader([]byte("x")), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := b.open
	if _, err := v.Cores[2].Append(ctx, make([]byte, volume.BlockSize)); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	next, err := store.WriteBlob(ctx, b, bytes.NewReader([]byte("y")), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if next.Extents[0].Volume == first.Extents[0].Volume {
		t.Fatal("a volume with uneven cores was reopened")
	}
}

// TestUsageCountsDeadBytes: per volume, live bytes grow with committed
// blobs and shrink with deleted ones (a blob deleted twice counts once),
// the stream covers them, and the numbers survive a restart.
func TestUsageCountsDeadBytes(t *testing.T) {
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	cfg := Config{Dir: filepath.Join(dir, "net"), Master: bytes.Repeat([]byte{1}, 32), Layout: volume.Layout{K: 2, M: 1},
		Journal: meta, UsagePath: filepath.Join(dir, "usage.db")}
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var refs []store.BlobRef
	for _, n := range []int{1000, 200000, 5000} {
		ref, err := store.WriteBlob(ctx, b, bytes.NewReader(make([]byte, n)), int64(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	reference(t, meta, refs...)
	for range 2 {
		if err := b.Delete(ctx, refs[1]); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string) {
		t.Helper()
		us, err := b.Usage()
		if err != nil || len(us) != 1 {
			t.Fatalf("%s: usage %+v %v", what, us, err)
		}
		u := us[0]
		if u.Volume != refs[0].Extents[0].Volume || u.Live != 6000 || u.Stream < 206000 || u.Dead() != u.Stored()-6000 {
			t.Fatalf("%s: usage %+v (dead %d), want 6000 live of at least 206000", what, u, u.Dead())
		}
	}
	check("after the deletes")
	b.Close()
	if b, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	check("after a restart")
}
