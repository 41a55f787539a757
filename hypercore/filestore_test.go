package hypercore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// newFileCore creates a core with the writer priv in file storage at dir.
func newFileCore(t testing.TB, dir string, priv ed25519.PrivateKey) (*FileStorage, *Core) {
	t.Helper()
	st, err := OpenFileStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Create(context.Background(), st, priv, false)
	if err != nil {
		t.Fatal(err)
	}
	return st, c
}

// openFileCore opens the core at dir with the writer priv.
func openFileCore(t testing.TB, dir string, priv ed25519.PrivateKey) *Core {
	t.Helper()
	st, err := OpenFileStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), st, priv)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFileStorageSyncsDirectories checks that Init makes the new core's
// directory entry durable (the parent is fsynced), and that a commit is
// one round of fsyncs: data, tree and head once each, no directory (the
// head is rewritten in place, no file is created or renamed); the
// offsets file is synced by the commit that takes the blocks whose
// offsets are unsynced to offsetsEvery, and the slots record how far.
func TestFileStorageSyncsDirectories(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	dir := filepath.Join(parent, "core")
	st, err := OpenFileStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	var synced, files []string
	var mu sync.Mutex
	st.syncDir = func(d string) error { synced = append(synced, d); return fsyncDir(d) }
	st.syncFile = func(f *os.File) error {
		mu.Lock()
		files = append(files, filepath.Base(f.Name()))
		mu.Unlock()
		return f.Sync()
	}
	c, err := Create(ctx, st, testKey(40), false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !slices.Contains(synced, dir) || !slices.Contains(synced, parent) {
		t.Fatalf("init synced %q, want %q and its parent", synced, dir)
	}
	synced = nil
	st.offsetsEvery = 7
	// Lengths 3, 6: offsets unsynced; 9: synced (9 >= 7); 12: unsynced
	// again (3 since 9); 15: unsynced (6); 18: synced.
	for round := range 6 {
		files = nil
		end := uint64(round*3 + 3)
		appendTestBlocks(t, c, end-3, end)
		if len(synced) != 0 {
			t.Fatalf("commit synced directories %q", synced)
		}
		slices.Sort(files)
		want := []string{"data", "head", "tree"}
		if end == 9 || end == 18 {
			want = []string{"data", "head", "offsets", "tree"}
		}
		if !slices.Equal(files, want) {
			t.Fatalf("commit to %d synced %q, want %q", end, files, want)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "head"))
		wantSynced := map[uint64]uint64{3: 0, 6: 0, 9: 0, 12: 9, 15: 9, 18: 9}[end]
		if sl := newestSlot(t, raw); sl.offsetsSynced != wantSynced {
			t.Fatalf("slot of the commit to %d: offsets synced to %d, want %d", end, sl.offsetsSynced, wantSynced)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Fatalf("commit left %s", e.Name())
		}
	}
}

// TestFileStorageLargeCommitSyncsDataFirst: a commit above the one-round
// limit syncs its blocks, offsets and nodes before it writes the head, and
// its head needs no check on open.
func TestFileStorageLargeCommitSyncsDataFirst(t *testing.T) {
	dir := t.TempDir()
	priv := testKey(44)
	st, c := newFileCore(t, dir, priv)
	st.oneRoundMax = 1000
	var order []string
	var mu sync.Mutex
	st.syncFile = func(f *os.File) error {
		mu.Lock()
		defer mu.Unlock()
		// The head slot is written before its sync: record its flags as
		// the sync sees them.
		name := filepath.Base(f.Name())
		if name == "head" {
			raw, _ := os.ReadFile(f.Name())
			sl, err := decodeHeadSlot(raw[st.slotOffset(1-st.slot):])
			if err != nil {
				t.Fatalf("head slot at sync: %v", err)
			}
			name = fmt.Sprintf("head(seq %d, flags %d)", sl.seq, sl.flags)
		}
		order = append(order, name)
		return f.Sync()
	}
	appendTestBlocks(t, c, 0, 3) // > 1000 bytes
	if len(order) != 4 || order[3] != "head(seq 1, flags 0)" {
		t.Fatalf("large commit synced %q, want the three data files, then the head (synced slot)", order)
	}
	order = nil
	if _, err := c.Append(context.Background(), []byte("small")); err != nil {
		t.Fatal(err)
	}
	if len(order) != 3 || !slices.Contains(order, "head(seq 2, flags 1)") || slices.Contains(order, "offsets") {
		t.Fatalf("small commit synced %q, want data, tree and head at once", order)
	}
	c.Close()
	c = openFileCore(t, dir, priv)
	defer c.Close()
	if c.Length() != 4 {
		t.Fatalf("reopened at %d, want 4", c.Length())
	}
}

// TestFileStorageFailedCommit makes the fsync of the head fail: the new
// head may or may not be durable, so the storage must refuse further
// commits (which would write over blocks that head covers) until it is
// reopened, and reopening must give a consistent core.
func TestFileStorageFailedCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	priv := testKey(41)
	st, c := newFileCore(t, dir, priv)
	appendTestBlocks(t, c, 0, 5)
	boom := errors.New("injected fsync failure")
	st.syncFile = func(f *os.File) error {
		if filepath.Base(f.Name()) == "head" {
			return boom
		}
		return f.Sync()
	}
	if _, err := c.Append(ctx, testBlock(5)); !errors.Is(err, boom) {
		t.Fatalf("append with failing head fsync: %v", err)
	}
	st.syncFile = (*os.File).Sync
	if _, err := c.Append(ctx, testBlock(5)); !errors.Is(err, ErrStorageFailed) {
		t.Fatalf("append after a failed commit: %v", err)
	}
	// Reads of what was committed before still work.
	if _, err := c.Get(ctx, 4); err != nil {
		t.Fatalf("get after a failed commit: %v", err)
	}
	c.Close()

	c = openFileCore(t, dir, priv)
	defer c.Close()
	// Everything was written (only the fsync failed), so the new head is
	// the one on disk and its commit checks out.
	if c.Length() != 6 {
		t.Fatalf("length after reopen %d, want 6", c.Length())
	}
	appendTestBlocks(t, c, 6, 9)
	checkCore(t, c)
}

// TestFileStorageRefusedCommitIsHarmless checks that a commit refused
// before anything is written (a cancelled context, a bad commit) does not
// stop later commits.
func TestFileStorageRefusedCommitIsHarmless(t *testing.T) {
	st, c := newFileCore(t, t.TempDir(), testKey(42))
	defer c.Close()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Append(cancelled, testBlock(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with cancelled context: %v", err)
	}
	bad := &Commit{Blocks: [][]byte{{1}}, Nodes: []Node{{Index: 2}}, Head: Head{Length: 1, ByteLength: 1}}
	if err := st.Commit(context.Background(), bad); err == nil {
		t.Fatal("commit with a node beyond its length accepted")
	}
	appendTestBlocks(t, c, 0, 4)
	checkCore(t, c)
}

// TestWriteBlocks writes a mix of large blocks (written directly) and
// runs of small ones (gathered, more than one 4 MiB chunk) at an offset
// and reads the file back.
func TestWriteBlocks(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks [][]byte
	sizes := []int{100, 40 << 10, 10, 0, 10, 70 << 10, 5}
	for range 150 {
		sizes = append(sizes, 30<<10) // 4.5 MiB of small blocks in a row
	}
	sizes = append(sizes, 32<<10, 1)
	for i, n := range sizes {
		blocks = append(blocks, bytes.Repeat([]byte{byte(i)}, n))
	}
	const off = 12345
	if err := writeBlocks(f, off, blocks); err != nil {
		t.Fatal(err)
	}
	want := append(make([]byte, off), bytes.Join(blocks, nil)...)
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file is %d bytes, want %d, or differs", len(got), len(want))
	}
}

// TestFileStorageReadsRacingClose: a read that races with Close fails
// with ErrClosed, never with ErrCorrupt (a hoster would take that for
// damage and repair a healthy core).
func TestFileStorageReadsRacingClose(t *testing.T) {
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		_, c := newFileCore(t, t.TempDir(), testKey(43))
		appendTestBlocks(t, c, 0, 8)
		errs := make(chan error, 2)
		for w := range 2 {
			go func() {
				for i := uint64(0); ; i++ {
					if _, err := c.Get(ctx, (i+uint64(w))%8); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		c.Close()
		for range 2 {
			if err := <-errs; !errors.Is(err, ErrClosed) {
				t.Fatalf("read racing close: %v", err)
			}
		}
	}
}

// TestFileStorageNoSync: with SetNoSync commits make no fsync (no
// directory sync either) and rewrite the head in place; after Sync and a
// reopen every block is there and verifies, and commits with fsync work
// again after SetNoSync(false).
func TestFileStorageNoSync(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "core")
	st, c := newFileCore(t, dir, testKey(41))
	var synced []string
	st.syncDir = func(d string) error { synced = append(synced, d); return fsyncDir(d) }
	st.SetNoSync(true)
	appendTestBlocks(t, c, 0, 3)
	appendTestBlocks(t, c, 3, 8)
	if len(synced) != 0 {
		t.Fatalf("commits without sync synced %q", synced)
	}
	if _, err := os.Stat(filepath.Join(dir, "head.tmp")); err == nil {
		t.Fatal("a commit without sync went through a temporary head file")
	}
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(synced, []string{dir}) {
		t.Fatalf("Sync synced %q, want the core directory", synced)
	}
	st.SetNoSync(false)
	appendTestBlocks(t, c, 8, 10)
	want := c.Info()
	c.Close()
	c = openFileCore(t, dir, testKey(41))
	defer c.Close()
	if got := c.Info(); got.Length != 10 || got.Length != want.Length || got.ByteLength != want.ByteLength {
		t.Fatalf("reopened core %+v, want %+v", got, want)
	}
	for i := range uint64(10) {
		if _, err := c.Get(ctx, i); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
	}
}

// TestGetUnchecked: GetUnchecked returns the stored block as Get does,
// and ErrNotFound past the end.
func TestGetUnchecked(t *testing.T) {
	ctx := context.Background()
	_, c := newFileCore(t, filepath.Join(t.TempDir(), "core"), testKey(42))
	defer c.Close()
	appendTestBlocks(t, c, 0, 4)
	for i := range uint64(4) {
		a, err1 := c.Get(ctx, i)
		b, err2 := c.GetUnchecked(ctx, i)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("block %d: %v %v", i, err1, err2)
		}
	}
	if _, err := c.GetUnchecked(ctx, 4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("past the end: %v", err)
	}
}

// commitThenBreak makes a core with two commits (blocks 0..7, then
// 7..12) and closes it the way a killed process leaves it (no clean
// close, so the newest head is flagged unsynced), then applies damage,
// the state a crash can leave when not every write of the second commit
// reached the disk. It returns the directory.
func commitThenBreak(t *testing.T, priv []byte, damage func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	st, c := newFileCore(t, dir, priv)
	appendTestBlocks(t, c, 0, 7)
	appendTestBlocks(t, c, 7, 12)
	st.closeFiles() // no clean close: as after SIGKILL
	damage(dir)
	return dir
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestFileStorageCrashBetweenDataAndHead: a crash can leave the second
// commit's head slot on disk while some of what it covers is not (a
// commit syncs blocks and head in one round). Each such state reopens at
// the first commit's head, with every block of it intact, drops the
// broken head for good, and takes new commits; a crash that left all of
// the commit on disk reopens at the second head, whatever became of the
// offsets (no commit here synced them: they are rebuilt).
func TestFileStorageCrashBetweenDataAndHead(t *testing.T) {
	ctx := context.Background()
	priv := testKey(45)
	var dataAt7 int64
	for i := range uint64(7) {
		dataAt7 += int64(len(testBlock(i)))
	}
	zeros := make([]byte, 300)
	cases := []struct {
		name   string
		damage func(dir string)
		want   uint64
	}{
		{"all written", func(string) {}, 12},
		{"blocks missing", func(dir string) { os.Truncate(filepath.Join(dir, "data"), dataAt7+10) }, 7},
		{"block zeroed", func(dir string) { overwrite(t, filepath.Join(dir, "data"), dataAt7+int64(len(testBlock(7)))+5, zeros) }, 7},
		// Offsets are not synced with a commit: recovery rebuilds them.
		{"offsets missing", func(dir string) { os.Truncate(filepath.Join(dir, "offsets"), 8*9) }, 12},
		{"offset zeroed", func(dir string) { overwrite(t, filepath.Join(dir, "offsets"), 8*10, make([]byte, 8)) }, 12},
		{"offsets gone, blocks missing", func(dir string) {
			os.Truncate(filepath.Join(dir, "offsets"), 0)
			os.Truncate(filepath.Join(dir, "data"), dataAt7+10)
		}, 7},
		{"tree missing", func(dir string) { os.Truncate(filepath.Join(dir, "tree"), nodeRecord*15) }, 7},
		{"leaf zeroed", func(dir string) { overwrite(t, filepath.Join(dir, "tree"), nodeRecord*18, make([]byte, nodeRecord)) }, 7},
		// Node 19 is the parent of leaves 18 and 20, made by the second commit.
		{"parent zeroed", func(dir string) { overwrite(t, filepath.Join(dir, "tree"), nodeRecord*19, make([]byte, nodeRecord)) }, 7},
		{"head slot torn", func(dir string) {
			raw, _ := os.ReadFile(filepath.Join(dir, "head"))
			sl := newestSlot(t, raw)
			overwrite(t, filepath.Join(dir, "head"), int64(sl.index)*headSlotSize+40, zeros[:20])
		}, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := commitThenBreak(t, priv, tc.damage)
			c := openFileCore(t, dir, priv)
			if c.Length() != tc.want {
				t.Fatalf("reopened at %d, want %d", c.Length(), tc.want)
			}
			checkCore(t, c)
			c.Close()
			// The verdict sticks: a second open gives the same head.
			c = openFileCore(t, dir, priv)
			if c.Length() != tc.want {
				t.Fatalf("second open at %d, want %d", c.Length(), tc.want)
			}
			appendTestBlocks(t, c, tc.want, 20)
			checkCore(t, c)
			c.Close()
			c = openFileCore(t, dir, priv)
			defer c.Close()
			if c.Length() != 20 {
				t.Fatalf("after new commits: %d, want 20", c.Length())
			}
			if _, err := c.Get(ctx, 19); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// newestSlot returns the head slot with the highest sequence number.
func newestSlot(t *testing.T, raw []byte) headSlot {
	t.Helper()
	var best headSlot
	found := false
	for i, off := range []int{0, headSlotSize} {
		if off >= len(raw) {
			continue
		}
		sl, err := decodeHeadSlot(raw[off:min(len(raw), off+headSlotSize)])
		if err != nil {
			continue
		}
		sl.index = i
		if !found || sl.seq > best.seq {
			best, found = sl, true
		}
	}
	if !found {
		t.Fatal("no valid head slot")
	}
	return best
}

// TestFileStorageCleanCloseMarksSynced: after a clean Close the newest
// head is flagged synced, so an open checks nothing (damage to the last
// commit's blocks is then found by reads, as for any other block); after
// a kill the newest head is flagged unsynced and checked.
func TestFileStorageCleanCloseMarksSynced(t *testing.T) {
	priv := testKey(46)
	dir := t.TempDir()
	st, c := newFileCore(t, dir, priv)
	appendTestBlocks(t, c, 0, 5)
	raw, _ := os.ReadFile(filepath.Join(dir, "head"))
	if sl := newestSlot(t, raw); sl.flags&slotUnverified == 0 || sl.head.Length != 5 {
		t.Fatalf("head after a commit: %+v, want length 5 flagged unsynced", sl)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_ = st
	raw, _ = os.ReadFile(filepath.Join(dir, "head"))
	if sl := newestSlot(t, raw); sl.flags&slotUnverified != 0 || sl.head.Length != 5 {
		t.Fatalf("head after clean close: %+v, want length 5 flagged synced", sl)
	}
	overwrite(t, filepath.Join(dir, "data"), int64(len(testBlock(0)))+3, []byte{0xff, 0xfe})
	c = openFileCore(t, dir, priv)
	defer c.Close()
	if c.Length() != 5 {
		t.Fatalf("reopened at %d, want 5", c.Length())
	}
	if _, err := c.Get(context.Background(), 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged block after a clean close: %v", err)
	}
}

// encodeOldHeadFile is the head file of earlier versions: one record,
// replaced by rename on every commit.
func encodeOldHeadFile(h Head) []byte {
	b := []byte(headMagic)
	b = binary.LittleEndian.AppendUint64(b, h.Length)
	b = binary.LittleEndian.AppendUint64(b, h.ByteLength)
	b = binary.LittleEndian.AppendUint64(b, h.Fork)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h.Signature)))
	b = append(b, h.Signature...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// TestFileStorageOldHeadFile: a core whose head file an earlier version
// wrote (a single record) opens at that head and takes commits; one
// whose head file is missing (made, never committed to) opens empty.
func TestFileStorageOldHeadFile(t *testing.T) {
	priv := testKey(47)
	dir := t.TempDir()
	st, c := newFileCore(t, dir, priv)
	appendTestBlocks(t, c, 0, 6)
	_, head, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := os.WriteFile(filepath.Join(dir, "head"), encodeOldHeadFile(head), 0o644); err != nil {
		t.Fatal(err)
	}
	c = openFileCore(t, dir, priv)
	if c.Length() != 6 {
		t.Fatalf("old head file: length %d, want 6", c.Length())
	}
	appendTestBlocks(t, c, 6, 9)
	appendTestBlocks(t, c, 9, 11)
	c.Close()
	c = openFileCore(t, dir, priv)
	if c.Length() != 11 {
		t.Fatalf("after commits over an old head file: %d, want 11", c.Length())
	}
	checkCore(t, c)
	c.Close()

	dir = t.TempDir()
	_, c = newFileCore(t, dir, priv)
	c.Close()
	os.Remove(filepath.Join(dir, "head"))
	c = openFileCore(t, dir, priv)
	defer c.Close()
	if c.Length() != 0 {
		t.Fatalf("no head file: length %d", c.Length())
	}
	appendTestBlocks(t, c, 0, 3)
	checkCore(t, c)
}

// TestGetRangeUnchecked: a range read returns the blocks Get returns, in
// file storage (one read of the offsets, blocks read into place) as in
// memory (block by block), stops at maxBytes after at least one block,
// and refuses ranges past the end; damaged offsets are ErrCorrupt.
func TestGetRangeUnchecked(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "core")
	_, fc := newFileCore(t, dir, testKey(43))
	mc, err := Create(ctx, NewMemStorage(), testKey(43), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Core{fc, mc} {
		appendTestBlocks(t, c, 0, 5)
		appendTestBlocks(t, c, 5, 12)
	}
	read := func(c *Core, start, end uint64, maxBytes int) ([][]byte, error) {
		var out [][]byte
		n, err := c.GetRangeUnchecked(ctx, start, end, maxBytes, func(sizes []int) ([][]byte, error) {
			for _, sz := range sizes {
				out = append(out, bytes.Repeat([]byte{0xaa}, sz))
			}
			return out, nil
		})
		if err == nil && n != len(out) {
			t.Fatalf("read %d blocks, laid out %d", n, len(out))
		}
		return out, err
	}
	for ci, c := range []*Core{fc, mc} {
		for _, r := range [][2]uint64{{0, 12}, {0, 1}, {3, 9}, {11, 12}, {4, 5}} {
			got, err := read(c, r[0], r[1], 1<<30)
			if err != nil || len(got) != int(r[1]-r[0]) {
				t.Fatalf("core %d [%d,%d): %d blocks, %v", ci, r[0], r[1], len(got), err)
			}
			for i, b := range got {
				want, err := c.Get(ctx, r[0]+uint64(i))
				if err != nil || !bytes.Equal(b, want) {
					t.Fatalf("core %d block %d differs from Get (%v)", ci, r[0]+uint64(i), err)
				}
			}
		}
		// maxBytes: the blocks that fit, at least one.
		b0, _ := c.Get(ctx, 2)
		b1, _ := c.Get(ctx, 3)
		if got, err := read(c, 2, 12, len(b0)+len(b1)); err != nil || len(got) != 2 {
			t.Fatalf("core %d: %d blocks within %d bytes, want 2 (%v)", ci, len(got), len(b0)+len(b1), err)
		}
		if got, err := read(c, 2, 12, 1); err != nil || len(got) != 1 {
			t.Fatalf("core %d: %d blocks within 1 byte, want 1 (%v)", ci, len(got), err)
		}
		if _, err := read(c, 10, 13, 1<<30); !errors.Is(err, ErrNotFound) {
			t.Fatalf("core %d: past the end: %v", ci, err)
		}
		if _, err := read(c, 5, 5, 1<<30); !errors.Is(err, ErrNotFound) {
			t.Fatalf("core %d: empty range: %v", ci, err)
		}
		wrong := errors.New("refused")
		if _, err := c.GetRangeUnchecked(ctx, 0, 2, 1<<30, func([]int) ([][]byte, error) { return nil, wrong }); !errors.Is(err, wrong) {
			t.Fatalf("core %d: into's error: %v", ci, err)
		}
		if _, err := c.GetRangeUnchecked(ctx, 0, 2, 1<<30, func(s []int) ([][]byte, error) { return make([][]byte, len(s)), nil }); err == nil {
			t.Fatalf("core %d: destinations of the wrong size accepted", ci)
		}
	}
	// OpenRangeUnchecked: the file from block start holds the blocks Get
	// returns, back to back, within maxBytes; its own offset, not the
	// storage's. A memory storage has no block file.
	for _, r := range [][3]uint64{{0, 12, 1 << 30}, {3, 9, 1 << 30}, {11, 12, 1 << 30}, {2, 12, 1}} {
		bf, sizes, err := fc.OpenRangeUnchecked(ctx, r[0], r[1], int(r[2]))
		if err != nil {
			t.Fatal(err)
		}
		want := r[1] - r[0]
		if r[2] == 1 {
			want = 1
		}
		if uint64(len(sizes)) != want {
			t.Fatalf("[%d,%d) within %d bytes: %d sizes", r[0], r[1], r[2], len(sizes))
		}
		for i, sz := range sizes {
			b := make([]byte, sz)
			if _, err := io.ReadFull(bf, b); err != nil {
				t.Fatal(err)
			}
			if g, _ := fc.Get(ctx, r[0]+uint64(i)); !bytes.Equal(b, g) {
				t.Fatalf("[%d,%d): block %d differs in the file", r[0], r[1], r[0]+uint64(i))
			}
		}
		bf.Close()
	}
	// Descriptors open at once have positions of their own, also when
	// they are kept ones handed out again.
	for range 2 {
		a, sa, err := fc.OpenRangeUnchecked(ctx, 1, 12, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := fc.OpenRangeUnchecked(ctx, 6, 12, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		ba := make([]byte, sa[0])
		b6 := make([]byte, 1)
		if _, err := io.ReadFull(b, b6); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(a, ba); err != nil {
			t.Fatal(err)
		}
		g1, _ := fc.Get(ctx, 1)
		g6, _ := fc.Get(ctx, 6)
		if !bytes.Equal(ba, g1) || b6[0] != g6[0] {
			t.Fatal("descriptors open at once share a position")
		}
		a.Close()
		b.Close()
	}
	if _, _, err := fc.OpenRangeUnchecked(ctx, 5, 13, 1<<30); !errors.Is(err, ErrNotFound) {
		t.Fatalf("range past the end: %v", err)
	}
	if _, _, err := mc.OpenRangeUnchecked(ctx, 0, 2, 1<<30); !errors.Is(err, ErrNoBlockFile) {
		t.Fatalf("memory storage: %v", err)
	}
	// An offset past the data is damage, not a block.
	f, err := os.OpenFile(filepath.Join(dir, "offsets"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ob [8]byte
	binary.LittleEndian.PutUint64(ob[:], 1<<40)
	if _, err := f.WriteAt(ob[:], 4*8); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := read(fc, 2, 8, 1<<30); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged offsets: %v", err)
	}
}

// killAfterCommits makes a core of 32 blocks in four commits of 8 and
// leaves it as a killed process does (no clean close); no commit synced
// the offsets file. It returns the directory.
func killAfterCommits(t *testing.T, priv []byte) string {
	t.Helper()
	dir := t.TempDir()
	st, c := newFileCore(t, dir, priv)
	st.offsetsEvery = 1 << 20
	for from := uint64(0); from < 32; from += 8 {
		appendTestBlocks(t, c, from, from+8)
	}
	st.closeFiles()
	return dir
}

// readAllUnchecked reads blocks [start, end) with GetRangeUnchecked.
func readAllUnchecked(t *testing.T, c *Core, start, end uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for start < end {
		var got [][]byte
		n, err := c.GetRangeUnchecked(context.Background(), start, end, 1<<30, func(sizes []int) ([][]byte, error) {
			for _, sz := range sizes {
				got = append(got, make([]byte, sz))
			}
			return got, nil
		})
		if err != nil {
			t.Fatalf("range from %d: %v", start, err)
		}
		out = append(out, got...)
		start += uint64(n)
	}
	return out
}

// TestFileStorageOffsetsRebuilt: commits do not sync the offsets file, so
// a crash may leave it short, zeroed or holding anything past what was
// synced; the open after it rebuilds those offsets from the tree, every
// block reads back (checked and unchecked), and a clean close records
// them synced, so that the next open rebuilds nothing.
func TestFileStorageOffsetsRebuilt(t *testing.T) {
	priv := testKey(48)
	junk := bytes.Repeat([]byte{0xee}, 8*40)
	cases := map[string]func(path string){
		"gone":      func(p string) { os.Truncate(p, 0) },
		"half":      func(p string) { os.Truncate(p, 8*16+3) },
		"zeroed":    func(p string) { overwrite(t, p, 0, make([]byte, 8*32)) },
		"junk":      func(p string) { overwrite(t, p, 0, junk) },
		"untouched": func(string) {},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := killAfterCommits(t, priv)
			damage(filepath.Join(dir, "offsets"))
			c := openFileCore(t, dir, priv)
			if c.Length() != 32 {
				t.Fatalf("reopened at %d, want 32", c.Length())
			}
			checkCore(t, c)
			for i, b := range readAllUnchecked(t, c, 0, 32) {
				if !bytes.Equal(b, testBlock(uint64(i))) {
					t.Fatalf("unchecked block %d differs", i)
				}
			}
			appendTestBlocks(t, c, 32, 40)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(filepath.Join(dir, "head"))
			if sl := newestSlot(t, raw); sl.offsetsSynced != 40 || sl.head.Length != 40 {
				t.Fatalf("after a clean close: slot %+v, want offsets synced to 40", sl)
			}
			c = openFileCore(t, dir, priv)
			defer c.Close()
			checkCore(t, c)
		})
	}
}

// TestFileStorageOffsetsSyncedAreKept: offsets the slot records as synced
// are durable and not rebuilt, so damage to them after the fact is
// reported by reads (as damage to any stored byte is), while offsets past
// that point are rebuilt; an open rebuilds at most offsetsEvery of them
// plus the last commit's.
func TestFileStorageOffsetsSyncedAreKept(t *testing.T) {
	ctx := context.Background()
	priv := testKey(49)
	dir := t.TempDir()
	st, c := newFileCore(t, dir, priv)
	st.offsetsEvery = 10
	for from := uint64(0); from < 24; from += 4 {
		appendTestBlocks(t, c, from, from+4)
	}
	// Synced by the commits to 12 and to 24 (12 since 12): the newest
	// slot, written by the commit to 24, records 12.
	raw, _ := os.ReadFile(filepath.Join(dir, "head"))
	if sl := newestSlot(t, raw); sl.offsetsSynced != 12 {
		t.Fatalf("newest slot: offsets synced to %d, want 12", sl.offsetsSynced)
	}
	st.closeFiles()
	var ob [8]byte
	binary.LittleEndian.PutUint64(ob[:], 1)
	overwrite(t, filepath.Join(dir, "offsets"), 8*5, ob[:])  // synced
	overwrite(t, filepath.Join(dir, "offsets"), 8*15, ob[:]) // not synced
	c = openFileCore(t, dir, priv)
	defer c.Close()
	if _, err := c.Get(ctx, 5); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("block 5 behind a damaged synced offset: %v", err)
	}
	for i := uint64(6); i < 24; i++ {
		b, err := c.Get(ctx, i)
		if err != nil || !bytes.Equal(b, testBlock(i)) {
			t.Fatalf("block %d: %v", i, err)
		}
	}
}

// TestFileStorageOffsetsRebuiltAroundDamage: a leaf record damaged among
// the blocks whose offsets are rebuilt does not keep the core from
// opening: offsets are found from both ends, that block's read reports
// the damage, every other block reads back; between two damaged leaves
// the offsets cannot be known and those blocks report damage too, never
// wrong bytes. Unchecked reads (GetRangeUnchecked, one block at a time)
// get every block's exact bytes or ErrCorrupt, and ErrCorrupt for every
// block whose start or end was lost (they used to get such blocks empty,
// and the block before them running to the end of the data). The same
// holds once the core has grown past the rebuild (appended blocks, then
// reopened): a lost offset is past every length the data can reach (it
// used to be the byte length at the rebuild plus one, which appends then
// put inside the data).
func TestFileStorageOffsetsRebuiltAroundDamage(t *testing.T) {
	ctx := context.Background()
	priv := testKey(50)
	for _, damaged := range [][]uint64{{10}, {10, 13}} {
		for _, grow := range []bool{false, true} {
			name := fmt.Sprint(damaged)
			if grow {
				name += "/append after rebuild"
			}
			t.Run(name, func(t *testing.T) {
				checkOffsetsRebuiltAroundDamage(t, ctx, priv, damaged, grow)
			})
		}
	}
}

func checkOffsetsRebuiltAroundDamage(t *testing.T, ctx context.Context, priv ed25519.PrivateKey, damaged []uint64, grow bool) {
	dir := killAfterCommits(t, priv)
	os.Truncate(filepath.Join(dir, "offsets"), 0)
	for _, i := range damaged {
		overwrite(t, filepath.Join(dir, "tree"), int64(2*i)*nodeRecord+3, []byte{0xff ^ 0x5a})
	}
	c := openFileCore(t, dir, priv)
	if c.Length() != 32 {
		t.Fatalf("reopened at %d, want 32", c.Length())
	}
	length := uint64(32)
	if grow {
		// Blocks bigger than the damaged ones, so that the data
		// grows well past the byte length at the rebuild.
		for i := range uint64(16) {
			if _, err := c.Append(ctx, bytes.Repeat([]byte{byte(i)}, 8<<10)); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
		c = openFileCore(t, dir, priv)
		length = 48
		if c.Length() != length {
			t.Fatalf("reopened at %d, want %d", c.Length(), length)
		}
	}
	defer c.Close()
	want := func(i uint64) []byte {
		if i < 32 {
			return testBlock(i)
		}
		return bytes.Repeat([]byte{byte(i - 32)}, 8<<10)
	}
	for i := range length {
		b, err := c.Get(ctx, i)
		bad := slices.Contains(damaged, i) || len(damaged) == 2 && i > damaged[0] && i <= damaged[1]
		if bad {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("block %d: %v, want ErrCorrupt", i, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(b, want(i)) {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	for i := range length {
		// Its start or its end (the next block's start) lost.
		lost := len(damaged) == 2 && i >= damaged[0] && i <= damaged[1]
		var got []byte
		_, err := c.GetRangeUnchecked(ctx, i, i+1, 1<<20, func(sizes []int) ([][]byte, error) {
			got = make([]byte, sizes[0])
			return [][]byte{got}, nil
		})
		if lost {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unchecked block %d (offsets lost): %d bytes, %v; want ErrCorrupt", i, len(got), err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, want(i)) {
			t.Fatalf("unchecked block %d: %d bytes (%v), want its %d", i, len(got), err, len(want(i)))
		}
	}
}

// encodeHeadSlotV2 is a head slot as earlier versions wrote it
// ("DDHCHED2": no offsetsSynced; they synced offsets with every commit).
func encodeHeadSlotV2(sl headSlot) []byte {
	b := []byte(slotMagicV2)
	b = binary.LittleEndian.AppendUint64(b, sl.seq)
	b = append(b, sl.flags)
	for _, v := range []uint64{sl.head.Length, sl.head.ByteLength, sl.head.Fork, sl.baseLength, sl.baseByteLength} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(sl.head.Signature)))
	b = append(b, sl.head.Signature...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// TestFileStorageSlotV2: a head slot of the previous version reads with
// its offsets synced up to its head when it was synced, up to its base
// when not (that commit's offsets are then rebuilt).
func TestFileStorageSlotV2(t *testing.T) {
	priv := testKey(51)
	for _, unverified := range []bool{false, true} {
		dir := killAfterCommits(t, priv)
		raw, _ := os.ReadFile(filepath.Join(dir, "head"))
		sl := newestSlot(t, raw)
		if !unverified {
			sl.flags, sl.baseLength, sl.baseByteLength = 0, sl.head.Length, sl.head.ByteLength
		}
		v2 := encodeHeadSlotV2(sl)
		got, err := decodeHeadSlot(v2)
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(32)
		if unverified {
			want = 24
		}
		if got.offsetsSynced != want || got.head.Length != 32 || got.seq != sl.seq || got.baseLength != sl.baseLength {
			t.Fatalf("v2 slot (unverified %v) read as %+v, want offsets synced to %d", unverified, got, want)
		}
		// Older versions synced the offsets: the last commit's are lost
		// at most, and only from an unverified slot.
		overwrite(t, filepath.Join(dir, "head"), int64(sl.index)*headSlotSize, v2)
		if unverified {
			os.Truncate(filepath.Join(dir, "offsets"), 8*24)
		}
		c := openFileCore(t, dir, priv)
		if c.Length() != 32 {
			t.Fatalf("v2 slot: reopened at %d", c.Length())
		}
		checkCore(t, c)
		c.Close()
	}
}
