package hypercore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"slices"
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
// directory entry durable (the parent is fsynced) and that every commit
// fsyncs the core directory after renaming the head.
func TestFileStorageSyncsDirectories(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	dir := filepath.Join(parent, "core")
	st, err := OpenFileStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	var synced []string
	st.syncDir = func(d string) error { synced = append(synced, d); return fsyncDir(d) }
	c, err := Create(ctx, st, testKey(40), false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !slices.Contains(synced, dir) || !slices.Contains(synced, parent) {
		t.Fatalf("init synced %q, want %q and its parent", synced, dir)
	}
	synced = nil
	appendTestBlocks(t, c, 0, 3)
	if !slices.Equal(synced, []string{dir}) {
		t.Fatalf("commit synced %q, want the core directory once", synced)
	}
}

// TestFileStorageFailedCommit makes the directory fsync after the head's
// rename fail: the new head may or may not be durable, so the storage must
// refuse further commits (which would write over blocks that head covers)
// until it is reopened, and reopening must give a consistent core.
func TestFileStorageFailedCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	priv := testKey(41)
	st, c := newFileCore(t, dir, priv)
	appendTestBlocks(t, c, 0, 5)
	boom := errors.New("injected fsync failure")
	st.syncDir = func(string) error { return boom }
	if _, err := c.Append(ctx, testBlock(5)); !errors.Is(err, boom) {
		t.Fatalf("append with failing dir fsync: %v", err)
	}
	st.syncDir = fsyncDir
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
	// The rename happened, so the head on disk is the new one.
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
