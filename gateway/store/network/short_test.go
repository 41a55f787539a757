package network

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// coreBytes is the bytes held by the local cores of volume vol (all n).
func coreBytes(t *testing.T, b *Blobs, vol string) uint64 {
	t.Helper()
	v, err := b.volumeFor(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, c := range v.Cores {
		sum += c.Info().ByteLength
	}
	return sum
}

// Blobs written with a flush between them (each WriteBlob waits for its
// group commit) end in short stripes: the extent records the block size,
// the cores hold n blocks of that size instead of n·B, and every blob
// reads back from the local cores, whole and in ranges, also with a data
// core lost (decoded from the others, all short). A blob ending exactly at
// a stripe's end records no block size.
func TestShortStripesLocal(t *testing.T) {
	b, _ := open(t, nil) // k=2, m=1
	l := b.cfg.Layout
	ss := int(l.StripeSize())
	type blob struct {
		ref  store.BlobRef
		data []byte
	}
	var blobs []blob
	var wantBytes uint64
	for _, n := range []int{20 << 10, 1, ss, 300000, 3*ss - 64, 64} {
		data := make([]byte, n)
		rand.Read(data)
		ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), int64(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		e := ref.Extents[0]
		if e.Offset%int64(ss) != 0 {
			t.Fatalf("%d-byte blob starts at %d, not at a stripe", n, e.Offset)
		}
		last := n % ss
		want := 0
		if last != 0 && l.ShortBlockSize(int64(last)) < volume.BlockSize {
			want = l.ShortBlockSize(int64(last))
		}
		if e.Block != want {
			t.Fatalf("%d-byte blob: extent block size %d, want %d", n, e.Block, want)
		}
		full := n / ss
		if want == 0 && last != 0 {
			full++
		}
		wantBytes += uint64(l.N()) * (uint64(full)*volume.BlockSize + uint64(want))
		blobs = append(blobs, blob{ref, data})
	}
	vol := blobs[0].ref.Extents[0].Volume
	if got := coreBytes(t, b, vol); got != wantBytes {
		t.Fatalf("the cores hold %d bytes, want %d", got, wantBytes)
	}
	check := func(what string) {
		t.Helper()
		for i, bl := range blobs {
			if got := read(t, b, bl.ref); !bytes.Equal(got, bl.data) {
				t.Fatalf("%s: blob %d (%d bytes) differs", what, i, len(bl.data))
			}
			// Ranges across the blocks of the last (short) stripe.
			n := int64(len(bl.data))
			for _, r := range [][2]int64{{n / 2, n - n/2}, {n - min(n, 700), min(n, 700)}, {0, min(n, 5000)}} {
				rc, err := b.Open(ctx, bl.ref, r[0], r[1])
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, r[1])
				_, err = io.ReadFull(rc, got)
				rc.Close()
				if err != nil || !bytes.Equal(got, bl.data[r[0]:r[0]+r[1]]) {
					t.Fatalf("%s: blob %d range %v: %v", what, i, r, err)
				}
			}
		}
	}
	check("all cores")
	v := b.vols[vol]
	v.Cores[0].Close()
	v.Cores[0] = nil
	check("data core 0 lost")

	// An extent that claims a block size that is none is refused.
	bad := blobs[0].ref
	bad.Extents = []store.Extent{bad.Extents[0]}
	bad.Extents[0].Block = 100
	if _, err := b.Open(ctx, bad, 0, bad.Size); err == nil {
		t.Fatal("an extent with 100-byte blocks opened")
	}
	// One whose bytes would reach into the short stripe's hole fails to
	// read instead of returning zeros.
	bad.Extents[0].Block = volume.ShortAlign
	if _, err := b.Open(ctx, bad, 0, bad.Size); err == nil {
		t.Fatal("a read past a short stripe's blocks succeeded")
	}
}

// v1 volumes (every stripe padded to full size, extents without a block
// size) keep reading, next to v2 blobs in the same volume: locally and,
// from a fresh gateway, from the hosters, also with a hoster dead.
func TestV1AndShortFromHosters(t *testing.T) {
	net := testHosters(t, 3)
	writer, wvols := openRemote(t, net, 0, RemoteConfig{})
	wvols.padFlush = true
	ws := writeSome(t, writer) // 1 B, 5000 B, 64 KiB, 300001 B, 1 MiB: padded
	for _, w := range ws {
		if w.ref.Extents[0].Block != 0 {
			t.Fatalf("a padded flush recorded block size %d", w.ref.Extents[0].Block)
		}
	}
	wvols.padFlush = false
	short := writeSome(t, writer)
	nshort := 0
	for _, w := range short {
		if w.ref.Extents[0].Block != 0 {
			nshort++
		}
	}
	if nshort < 3 {
		t.Fatalf("only %d of %d blobs end in a short stripe", nshort, len(short))
	}
	all := append(ws, short...)
	checkAll(t, ctx, writer, all, "writer")

	// What the hosters hold is what the writer's cores hold: short blocks
	// were pushed as they are.
	var local uint64
	vols := map[string]bool{}
	for _, w := range all {
		if vol := w.ref.Extents[0].Volume; !vols[vol] {
			vols[vol] = true
			local += coreBytes(t, wvols, vol)
		}
	}
	var held uint64
	for _, h := range net.hosters {
		held += h.st.Used()
	}
	if held != local {
		t.Fatalf("hosters hold %d bytes, the writer's cores %d", held, local)
	}

	fresh, _ := openRemote(t, net, 0, RemoteConfig{SlowAfter: 50 * time.Millisecond})
	checkAll(t, ctx, fresh, all, "fresh gateway")
	// The hoster of data core 0 dead: short stripes decode from core 1
	// and the parity core.
	net.hosters[0].srv.Listener.Close()
	net.hosters[0].srv.CloseClientConnections()
	reader, _ := openRemote(t, net, 0, RemoteConfig{SlowAfter: 50 * time.Millisecond})
	checkAll(t, ctx, reader, all, "hoster of core 0 dead")
}

// A hoster that serves blocks of the wrong length (a short block cut
// shorter, or padded to full size) is not believed: the read decodes
// around it from the other cores.
func TestWrongBlockLengthRefused(t *testing.T) {
	net := testHosters(t, 3)
	writer, _ := openRemote(t, net, 0, RemoteConfig{})
	ws := writeSome(t, writer)
	net.hosters[1].mode.Store(resizer)
	reader, _ := openRemote(t, net, 0, RemoteConfig{SlowAfter: 50 * time.Millisecond})
	checkAll(t, ctx, reader, ws, "hoster of core 1 resizes blocks")
	// With a second core's hoster dead, nothing decodes: the read fails,
	// it never returns the wrong bytes.
	net.hosters[0].srv.Listener.Close()
	net.hosters[0].srv.CloseClientConnections()
	reader, _ = openRemote(t, net, 0, RemoteConfig{SlowAfter: 50 * time.Millisecond})
	if _, err := readAll(ctx, reader, ws[1].ref, 0, ws[1].ref.Size); !errors.Is(err, store.ErrDataShort) {
		t.Fatalf("read with one honest core: %v, want ErrDataShort", err)
	}
}

// BenchmarkLonePut measures the storage overhead of one small PUT alone
// in its group commit (a quiet instance: every PUT is flushed by itself),
// through the encrypting store at k=4, m=2: bytes the six cores hold per
// plaintext byte, with short stripes (v2) and padded ones (v1).
func BenchmarkLonePut(b *testing.B) {
	for _, size := range []int{20 << 10, 64 << 10} {
		for _, pad := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/v2", size>>10)
			if pad {
				name = fmt.Sprintf("%dKiB/v1", size>>10)
			}
			b.Run(name, func(b *testing.B) {
				net := benchHosters(b, 6)
				c, vols := benchStoreVols(b, net, 0, 0)
				vols.padFlush = pad
				data := make([]byte, size)
				rand.Read(data)
				var vol string
				for b.Loop() {
					ref, err := store.WriteBlob(ctx, c, bytes.NewReader(data), int64(size), nil)
					if err != nil {
						b.Fatal(err)
					}
					vol = ref.Extents[0].Volume
				}
				v, err := vols.volumeFor(ctx, vol)
				if err != nil {
					b.Fatal(err)
				}
				var held uint64
				for _, core := range v.Cores {
					held += core.Info().ByteLength
				}
				b.ReportMetric(float64(held)/float64(b.N*size), "overhead-x")
			})
		}
	}
}

// The usage counters know the holes of short stripes: they take no room
// on the hosters, so they are neither stored nor dead. After a restart
// the stored bytes are exactly k times a core's bytes, and the dead ones
// only the rounding of short blocks (and deleted blobs).
func TestUsageHoles(t *testing.T) {
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
	live := int64(0)
	for _, n := range []int{1000, 5000, 200000, 7} {
		ref, err := store.WriteBlob(ctx, b, bytes.NewReader(make([]byte, n)), int64(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
		live += int64(n)
	}
	reference(t, meta, refs...)
	if err := b.Delete(ctx, refs[1]); err != nil {
		t.Fatal(err)
	}
	live -= 5000
	vol := refs[0].Extents[0].Volume
	held := coreBytes(t, b, vol) / 3 // one core's bytes
	b.Close()
	if b, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	us, err := b.Usage()
	if err != nil || len(us) != 1 {
		t.Fatalf("usage %+v %v", us, err)
	}
	u := us[0]
	if u.Stream != 5*cfg.Layout.StripeSize() || u.Stored() != int64(2*held) || u.Live != live {
		t.Fatalf("usage %+v: want a stream of 5 stripes, %d stored (2 × %d), %d live", u, 2*held, held, live)
	}
	// Dead: the deleted blob and the rounding of 4 short stripes' blocks.
	if u.Dead() < 5000 || u.Dead() > 5000+4*2*volume.ShortAlign {
		t.Fatalf("usage %+v: %d dead, want 5000 plus at most the rounding of 4 short stripes", u, u.Dead())
	}
}

// Short blocks kept by the block cache (put there as they are written)
// serve reads with every hoster gone.
func TestShortStripesFromCache(t *testing.T) {
	net := testHosters(t, 3)
	writer, vols := openRemote(t, net, 64<<20, RemoteConfig{SlowAfter: 50 * time.Millisecond})
	var ws []written
	for _, n := range []int{1, 700, 20 << 10, 100000} {
		data := make([]byte, n)
		rand.Read(data)
		ref, err := store.WriteBlob(ctx, writer, bytes.NewReader(data), int64(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		if ref.Extents[0].Block == 0 {
			t.Fatalf("%d-byte blob: no short stripe", n)
		}
		ws = append(ws, written{ref, data})
	}
	if vols.CacheSize() == 0 {
		t.Fatal("nothing cached")
	}
	for _, h := range net.hosters {
		h.srv.Listener.Close()
		h.srv.CloseClientConnections()
	}
	checkAll(t, ctx, writer, ws, "every hoster gone, from the cache")
}

// Reads from the hosters of ranges that end in a blob's short last stripe
// and start elsewhere: mid-blob in an earlier stripe (a window of several
// stripes whose last is short, every data shard needed), a few bytes
// before the short stripe (a small read across the boundary into it), and
// inside it; from a fresh gateway, and with data core 0's hoster dead
// (the short stripe decoded from core 1 and the parity core). The blobs go
// to the network store itself (no encryption), so that the ranges fall
// exactly where they are meant to.
func TestShortStripeRangesFromHosters(t *testing.T) {
	net := testHosters(t, 3)
	_, writer := openRemote(t, net, 0, RemoteConfig{})
	ss := int64(writer.cfg.Layout.StripeSize())
	var ws []written
	for _, n := range []int64{300001, 3*ss + 1000, 2*ss + ss/2 + 7} {
		data := make([]byte, n)
		rand.Read(data)
		ref, err := store.WriteBlob(ctx, writer, bytes.NewReader(data), n, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e := ref.Extents[len(ref.Extents)-1]; e.Block == 0 {
			t.Fatalf("%d-byte blob: its last stripe is not short", n)
		}
		if off := ref.Extents[0].Offset; off%ss != 0 {
			t.Fatalf("%d-byte blob starts at %d, not at a stripe", n, off)
		}
		ws = append(ws, written{ref, data})
	}
	check := func(r *Blobs, what string) {
		t.Helper()
		for _, w := range ws {
			n := int64(len(w.data))
			last := (n - 1) / ss * ss // blob offset of its short stripe
			for _, rg := range [][2]int64{
				{ss / 2, n - ss/2},                   // mid first stripe .. mid short stripe
				{last - ss - 5, n - (last - ss - 5)}, // two full stripes' worth and the short one
				{last - 100, 200},                    // across the boundary into the short stripe
				{last + 3, n - last - 3},             // inside the short stripe
				{0, n},
			} {
				got, err := readAll(ctx, r, w.ref, rg[0], rg[1])
				if err != nil {
					t.Fatalf("%s: %d-byte blob, range %v: %v", what, n, rg, err)
				}
				if !bytes.Equal(got, w.data[rg[0]:rg[0]+rg[1]]) {
					t.Fatalf("%s: %d-byte blob, range %v reads back different", what, n, rg)
				}
			}
		}
	}
	_, fresh := openRemote(t, net, 0, RemoteConfig{SlowAfter: 50 * time.Millisecond})
	check(fresh, "fresh gateway")
	net.hosters[0].srv.Listener.Close()
	net.hosters[0].srv.CloseClientConnections()
	_, reader := openRemote(t, net, 0, RemoteConfig{SlowAfter: 50 * time.Millisecond})
	check(reader, "hoster of core 0 dead")
}
