package network

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// diskBytes is the disk space path's blocks take (st_blocks).
func diskBytes(t *testing.T, path string) (size, disk int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size(), fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// TestOpenVolumeReservesBlocks: the open volume's local cores reserve
// their data files' disk blocks ahead of what is written (where the file
// system takes reservations), their sizes stay the bytes appended, and
// closing gives the reservation back; every blob reads back from the
// hosters.
func TestOpenVolumeReservesBlocks(t *testing.T) {
	probe, err := os.CreateTemp(t.TempDir(), "probe")
	if err != nil {
		t.Fatal(err)
	}
	supported := syscall.Fallocate(int(probe.Fd()), 1 /* FALLOC_FL_KEEP_SIZE */, 0, 1<<20) == nil
	probe.Close()

	p := &memProbe{testNet: testHosters(t, 4), next: map[[2]int]uint64{}}
	b, vols := openMemProbe(t, p, 0, 0)
	var all []written
	for i := range 4 {
		ref, data, err := putRandom(ctx, b, 300000+i*7919)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, written{ref, data})
	}
	waitPushed(t, vols)
	vols.mu.Lock()
	v := vols.open
	vols.mu.Unlock()
	var files []string
	for j, c := range v.Cores {
		data := filepath.Join(vols.coreDir(v.Hex, j), "data")
		files = append(files, data)
		size, disk := diskBytes(t, data)
		if uint64(size) != c.Info().ByteLength {
			t.Fatalf("core %d: data file of %d bytes, core of %d", j, size, c.Info().ByteLength)
		}
		if supported && disk < size+coreReserveStep/2 {
			t.Fatalf("core %d: %d bytes on disk for %d written, want a reservation of about %d more", j, disk, size, coreReserveStep)
		}
	}
	if err := vols.Close(); err != nil {
		t.Fatal(err)
	}
	for j, f := range files {
		if size, disk := diskBytes(t, f); disk > size+64<<10 {
			t.Fatalf("core %d after close: %d bytes on disk for %d written", j, disk, size)
		}
	}
	reader, _ := openRemote(t, p.testNet, 0, RemoteConfig{})
	for i, w := range all {
		got, err := readAll(ctx, reader, w.ref, 0, w.ref.Size)
		if err != nil || string(got) != string(w.data) {
			t.Fatalf("blob %d read back from the hosters: %v", i, err)
		}
	}
}
