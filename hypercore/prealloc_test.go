//go:build linux

package hypercore

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// allocated is the disk space f's blocks take (st_blocks).
func allocated(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// canReserve reports whether dir's file system takes reservations.
func canReserve(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.CreateTemp(dir, "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	return reserve(f, 0, 1<<20) == nil
}

// TestFileStorageReserve: with SetReserve, the data file's size stays the
// bytes committed (opens, recovery and reads see nothing of it), disk
// blocks are held ahead of the end while the storage is open (where the
// file system takes reservations), Close gives them back, and a core
// killed with blocks reserved reopens whole and appends on.
func TestFileStorageReserve(t *testing.T) {
	const step = 1 << 20
	priv := testKey(61)
	dir := t.TempDir()
	supported := canReserve(t, dir)
	st, c := newFileCore(t, dir, priv)
	st.SetReserve(step)
	data := filepath.Join(dir, "data")
	for i := uint64(0); i < 40; i += 10 {
		appendTestBlocks(t, c, i, i+10)
		fi, err := os.Stat(data)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := uint64(fi.Size()), c.Info().ByteLength; got != want {
			t.Fatalf("data file of %d bytes at byte length %d", got, want)
		}
		if supported {
			st.cmu.Lock()
			reserved := st.reserved
			st.cmu.Unlock()
			if reserved < fi.Size()+step/4 {
				t.Fatalf("reserved up to %d with %d written (step %d)", reserved, fi.Size(), step)
			}
			if got, want := allocated(t, data), reserved&^4095; got < want {
				t.Fatalf("%d bytes allocated for %d written, want at least %d", got, fi.Size(), want)
			}
		}
	}
	checkCore(t, c)
	size := int64(c.Info().ByteLength)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := allocated(t, data); got > size+64<<10 {
		t.Fatalf("after Close %d bytes allocated for %d written", got, size)
	}

	// Killed with blocks reserved: the next open sees only what was
	// committed, and commits on.
	c = openFileCore(t, dir, priv)
	c.st.(*FileStorage).SetReserve(step)
	appendTestBlocks(t, c, 40, 50)
	c.st.(*FileStorage).closeFiles() // as after SIGKILL
	c = openFileCore(t, dir, priv)
	if c.Length() != 50 {
		t.Fatalf("reopened at %d, want 50", c.Length())
	}
	// The open gave back what the killed writer had reserved.
	if size := int64(c.Info().ByteLength); allocated(t, data) > size+64<<10 {
		t.Fatalf("after the reopen %d bytes allocated for %d written", allocated(t, data), size)
	}
	checkCore(t, c)
	appendTestBlocks(t, c, 50, 60)
	checkCore(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFileStorageReserveFails: where reserving fails (a file system that
// cannot; here a range past the largest file), SetReserve turns itself
// off and commits go on as without it.
func TestFileStorageReserveFails(t *testing.T) {
	priv := testKey(62)
	dir := t.TempDir()
	st, c := newFileCore(t, dir, priv)
	defer c.Close()
	appendTestBlocks(t, c, 0, 5)
	st.SetReserve(1 << 20)
	st.cmu.Lock()
	st.reserveFor(int64(st.head.ByteLength), 1<<62)
	off := st.reserveStep
	st.cmu.Unlock()
	if off != 0 {
		t.Fatalf("reservation still on (step %d) after a failed reserve", off)
	}
	appendTestBlocks(t, c, 5, 15)
	checkCore(t, c)
}

// BenchmarkCommitReserve appends 64 KiB blocks (a gateway core's stripes)
// without fsync, with and without SetReserve: CPU per byte of the commit.
func BenchmarkCommitReserve(b *testing.B) {
	for _, tc := range []struct {
		name string
		step int64
	}{{"plain", 0}, {"reserve4MiB", 4 << 20}} {
		b.Run(tc.name, func(b *testing.B) {
			blocks := make([][]byte, 16)
			for i := range blocks {
				blocks[i] = make([]byte, 64<<10)
				blocks[i][0] = byte(i)
			}
			b.SetBytes(16 * 64 << 10)
			dir := b.TempDir()
			st, c := newFileCore(b, dir, testKey(63))
			st.SetNoSync(true)
			st.SetReserve(tc.step)
			defer c.Close()
			for b.Loop() {
				if _, err := c.Append(context.Background(), blocks...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
