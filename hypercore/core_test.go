package hypercore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testBlock is block i of the test cores: deterministic content of a
// size that varies with i (0..4999 bytes).
func testBlock(i uint64) []byte {
	n := int((i * 7919) % 5000)
	b := make([]byte, n)
	x := uint32(i*2654435761 + 1)
	for j := range b {
		x = x*1664525 + 1013904223
		b[j] = byte(x >> 24)
	}
	return b
}

func appendTestBlocks(t testing.TB, c *Core, from, to uint64) {
	t.Helper()
	var batch [][]byte
	for i := from; i < to; i++ {
		batch = append(batch, testBlock(i))
	}
	if got, err := c.Append(context.Background(), batch...); err != nil || got != to {
		t.Fatalf("append %d..%d: length %d, %v", from, to, got, err)
	}
}

// checkCore reads every block back and checks proofs and the signature.
func checkCore(t testing.TB, c *Core) {
	t.Helper()
	ctx := context.Background()
	info := c.Info()
	if err := VerifyTreeSignature(info.Key[:], c.signingManifest(), info.TreeHash[:], info.Length, info.Fork, info.Signature); info.Length > 0 && err != nil {
		t.Fatalf("head signature: %v", err)
	}
	var total uint64
	for i := uint64(0); i < info.Length; i++ {
		b, err := c.Get(ctx, i)
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if !bytes.Equal(b, testBlock(i)) {
			t.Fatalf("block %d differs", i)
		}
		total += uint64(len(b))
	}
	if total != info.ByteLength {
		t.Fatalf("byte length %d, blocks sum to %d", info.ByteLength, total)
	}
	for _, i := range []uint64{0, info.Length / 2, info.Length - 1} {
		if info.Length == 0 {
			break
		}
		p, err := c.BlockProof(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		// Through the wire encoding, with nothing but the key.
		dp, err := DecodeProof(p.Encode())
		if err != nil {
			t.Fatal(err)
		}
		v, err := VerifyProof(info.Key[:], nil, dp)
		if err != nil {
			t.Fatalf("proof of block %d: %v", i, err)
		}
		if !bytes.Equal(v.Block.Value, testBlock(i)) || v.TreeHash != info.TreeHash {
			t.Fatalf("proof of block %d proves the wrong thing", i)
		}
	}
}

func TestCoreFileStorage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	priv := testKey(11)
	for _, compat := range []bool{false, true} {
		d := filepath.Join(dir, strconv.FormatBool(compat))
		st, err := OpenFileStorage(d)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Create(ctx, st, priv, compat)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Create(ctx, st, priv, compat); !errors.Is(err, ErrExists) {
			t.Fatalf("second create: %v", err)
		}
		checkCore(t, c) // empty
		appendTestBlocks(t, c, 0, 1)
		appendTestBlocks(t, c, 1, 40)
		appendTestBlocks(t, c, 40, 77)
		before := c.Info()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}

		st, err = OpenFileStorage(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenFileStorage(d); err == nil {
			t.Fatal("a second open of a locked core succeeded")
		}
		c, err = Open(ctx, st, priv)
		if err != nil {
			t.Fatal(err)
		}
		if after := c.Info(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("reopened core differs:\n%+v\n%+v", after, before)
		}
		if compat && c.Key() != [32]byte(priv.Public().(ed25519.PublicKey)) {
			t.Fatal("compat key is not the public key")
		}
		appendTestBlocks(t, c, 77, 130)
		checkCore(t, c)

		// A proof at an older committed length verifies against that
		// length's tree hash, as the chain checks it.
		th, _, err := c.TreeHashAt(ctx, 77)
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.ProofAt(ctx, 77, ProofRequest{Block: &BlockRequest{Index: 50}, Upgrade: &UpgradeRequest{Length: 77}})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := VerifyProofAt(p, 77, th); err != nil || !bytes.Equal(v.Block.Value, testBlock(50)) {
			t.Fatalf("proof at 77: %v", err)
		}
		if _, err := VerifyProofAt(p, 130, c.Info().TreeHash); err == nil {
			t.Fatal("proof at 77 accepted for length 130")
		}
		c.Close()
	}
}

func TestCoreReadOnlyAndWrongKey(t *testing.T) {
	ctx := context.Background()
	st := NewMemStorage()
	c, err := Create(ctx, st, testKey(1), false)
	if err != nil {
		t.Fatal(err)
	}
	appendTestBlocks(t, c, 0, 5)
	ro, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Append(ctx, []byte("x")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only append: %v", err)
	}
	if _, err := Open(ctx, st, testKey(2)); !errors.Is(err, ErrBadKey) {
		t.Fatalf("foreign key: %v", err)
	}
	if _, err := Open(ctx, NewMemStorage(), nil); !errors.Is(err, ErrNoCore) {
		t.Fatalf("empty storage: %v", err)
	}
	if _, err := c.Get(ctx, 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("block past the end: %v", err)
	}
	if _, err := c.Proof(ctx, ProofRequest{Block: &BlockRequest{Index: 9}}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("proof past the end: %v", err)
	}
	// Storage that changes a block under the core is caught, not served.
	st.blocks[3][0] ^= 1
	if _, err := c.Get(ctx, 3); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt block: %v", err)
	}
	if _, err := c.BlockProof(ctx, 3); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("proof of corrupt block: %v", err)
	}
}

// TestAppendFrom streams more than two commits' worth (AppendFrom reuses
// one buffer across commits) with a short last block into file storage
// and reads it back; bad block sizes are refused.
func TestAppendFrom(t *testing.T) {
	ctx := context.Background()
	_, c := newFileCore(t, t.TempDir(), testKey(3))
	defer c.Close()
	var data []byte
	for i := uint64(0); len(data) < 9_000_000; i++ {
		data = append(data, testBlock(i)...)
	}
	data = data[:9_000_000]
	n, size, err := c.AppendFrom(ctx, bytes.NewReader(data), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if n != 138 || size != int64(len(data)) || c.Info().ByteLength != uint64(len(data)) {
		t.Fatalf("appended %d blocks, %d bytes", n, size)
	}
	got, err := io.ReadAll(io.NewSectionReader(c.ReaderAt(ctx), 0, size))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back differs (%d bytes, %v)", len(got), err)
	}
	if b, err := c.Get(ctx, 137); err != nil || len(b) != len(data)%(64<<10) {
		t.Fatalf("last block: %d bytes, %v", len(b), err)
	}
	for _, bs := range []int{0, -1, MaxAppendFromBlock + 1} {
		if _, _, err := c.AppendFrom(ctx, bytes.NewReader(data), bs); err == nil {
			t.Fatalf("block size %d accepted", bs)
		}
	}
	if c.Length() != 138 {
		t.Fatal("a refused AppendFrom appended")
	}
}

// TestGetReturnsACopy: changing a block returned by Get changes nothing
// stored, in either storage; after Close, Get fails with ErrClosed.
func TestGetReturnsACopy(t *testing.T) {
	ctx := context.Background()
	fst, err := OpenFileStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []Storage{NewMemStorage(), fst} {
		c, err := Create(ctx, st, testKey(3), false)
		if err != nil {
			t.Fatal(err)
		}
		appendTestBlocks(t, c, 0, 3)
		b, err := c.Get(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		b[0] ^= 1
		if b, err := c.Get(ctx, 1); err != nil || !bytes.Equal(b, testBlock(1)) {
			t.Fatalf("%T: block changed through a returned slice: %v", st, err)
		}
		c.Close()
		if _, err := c.Get(ctx, 1); !errors.Is(err, ErrClosed) {
			t.Fatalf("%T: get after close: %v", st, err)
		}
	}
}

// TestFileStorageInterruptedCommit leaves the files as a crash in the
// middle of a commit would (data, offsets and nodes written, head not)
// and checks that the core reopens at the old head and continues.
func TestFileStorageInterruptedCommit(t *testing.T) {
	dir := t.TempDir()
	priv := testKey(4)
	_, c := newFileCore(t, dir, priv)
	appendTestBlocks(t, c, 0, 21)
	want := c.Info()
	c.Close()

	junk := bytes.Repeat([]byte{0xee}, 1000)
	for _, name := range []string{"data", "offsets", "tree"} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(junk)
		f.Close()
	}
	// Overwrite the slot of node 41 (parent of the last leaf once block 21
	// is added, uncommitted so far) and leave a torn head.tmp behind.
	f, _ := os.OpenFile(filepath.Join(dir, "tree"), os.O_WRONLY, 0)
	f.WriteAt(junk[:nodeRecord], 41*nodeRecord)
	f.Close()
	os.WriteFile(filepath.Join(dir, "head.tmp"), junk[:17], 0o644)

	c = openFileCore(t, dir, priv)
	if got := c.Info(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after interrupted commit:\n%+v\nwant\n%+v", got, want)
	}
	appendTestBlocks(t, c, 21, 50)
	checkCore(t, c)
	c.Close()
}

// TestFileStorageDamage damages committed files and checks that nothing
// corrupt is served.
func TestFileStorageDamage(t *testing.T) {
	ctx := context.Background()
	priv := testKey(5)
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		_, c := newFileCore(t, dir, priv)
		appendTestBlocks(t, c, 0, 10)
		c.Close()
		return dir
	}
	flip := func(t *testing.T, path string, off int64) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := []byte{0}
		f.ReadAt(b, off)
		b[0] ^= 0x10
		f.WriteAt(b, off)
	}
	open := func(t *testing.T, dir string) (*Core, error) {
		st, err := OpenFileStorage(dir)
		if err != nil {
			return nil, err
		}
		c, err := Open(ctx, st, priv)
		if err != nil {
			st.Close()
		}
		return c, err
	}

	t.Run("data byte", func(t *testing.T) {
		dir := setup(t)
		flip(t, filepath.Join(dir, "data"), int64(len(testBlock(0))+len(testBlock(1))+3)) // inside block 2
		c, err := open(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Get(ctx, 2); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("damaged block: %v", err)
		}
		if _, err := c.Get(ctx, 3); err != nil {
			t.Fatalf("intact block: %v", err)
		}
	})
	t.Run("tree record", func(t *testing.T) {
		dir := setup(t)
		flip(t, filepath.Join(dir, "tree"), 6*nodeRecord+9) // hash of leaf 3
		c, err := open(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Get(ctx, 3); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("damaged node: %v", err)
		}
	})
	t.Run("offset", func(t *testing.T) {
		dir := setup(t)
		flip(t, filepath.Join(dir, "offsets"), 4*8)
		c, err := open(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Get(ctx, 4); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("damaged offset: %v", err)
		}
	})
	t.Run("truncated data", func(t *testing.T) {
		dir := setup(t)
		os.Truncate(filepath.Join(dir, "data"), 100)
		if _, err := open(t, dir); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated data: %v", err)
		}
	})
	t.Run("head", func(t *testing.T) {
		// Damage to one head slot is taken for a torn write: the other
		// slot's head is used (here the same head: a clean close wrote it).
		dir := setup(t)
		flip(t, filepath.Join(dir, "head"), 12)
		c, err := open(t, dir)
		if err != nil {
			t.Fatalf("one damaged head slot: %v", err)
		}
		defer c.Close()
		if c.Length() != 10 {
			t.Fatalf("one damaged head slot: length %d, want 10", c.Length())
		}
		checkCore(t, c)
	})
	t.Run("both head slots", func(t *testing.T) {
		dir := setup(t)
		flip(t, filepath.Join(dir, "head"), 12)
		flip(t, filepath.Join(dir, "head"), headSlotSize+12)
		if _, err := open(t, dir); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("damaged head: %v", err)
		}
	})
	t.Run("root record", func(t *testing.T) {
		dir := setup(t)
		flip(t, filepath.Join(dir, "tree"), 7*nodeRecord+1) // root 7 of length 10
		if _, err := open(t, dir); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("damaged root: %v", err)
		}
	})
}

// TestCrashKilledWriter runs a writer in a child process, kills it with
// SIGKILL at a random moment (several times), and checks that the core
// reopens with every block it reported committed, all verified.
func TestCrashKilledWriter(t *testing.T) {
	if os.Getenv("HYPERCORE_CRASH_DIR") != "" {
		crashWriter()
		return
	}
	dir := t.TempDir()
	priv := testKey(6)
	var committed uint64
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKilledWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), "HYPERCORE_CRASH_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		deadline := time.Now().Add(20 * time.Second)
		target := committed + 40 + uint64(round*13)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "committed ") {
				continue
			}
			n, _ := strconv.ParseUint(strings.TrimPrefix(line, "committed "), 10, 64)
			committed = n
			if n >= target || time.Now().After(deadline) {
				break
			}
		}
		time.Sleep(time.Duration(round) * 3 * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if committed == 0 {
			t.Fatal("child committed nothing")
		}

		st, err := OpenFileStorage(dir)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		c, err := Open(context.Background(), st, priv)
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		if c.Length() < committed {
			t.Fatalf("round %d: length %d, child reported %d committed", round, c.Length(), committed)
		}
		checkCore(t, c)
		committed = c.Length()
		c.Close()
	}
}

// crashWriter is the child of TestCrashKilledWriter: it appends batches of
// test blocks forever and prints the length after every commit.
func crashWriter() {
	ctx := context.Background()
	dir := os.Getenv("HYPERCORE_CRASH_DIR")
	priv := testKey(6)
	st, err := OpenFileStorage(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := Open(ctx, st, priv)
	if errors.Is(err, ErrNoCore) {
		c, err = Create(ctx, st, priv, false)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for n := uint64(1); ; n++ {
		l := c.Length()
		var batch [][]byte
		for i := l; i < l+1+n%5; i++ {
			batch = append(batch, testBlock(i))
		}
		got, err := c.Append(ctx, batch...)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("committed %d\n", got)
	}
}

func TestReplicaAppendSigned(t *testing.T) {
	ctx := context.Background()
	for _, compat := range []bool{false, true} {
		w, err := Create(ctx, NewMemStorage(), testKey(7), compat)
		if err != nil {
			t.Fatal(err)
		}
		appendTestBlocks(t, w, 0, 10)
		sig10 := w.Info().Signature
		appendTestBlocks(t, w, 10, 25)
		info := w.Info()

		var manifest []byte
		if !compat {
			manifest = info.Manifest
		}
		st, err := OpenFileStorage(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		r, err := CreateReplica(ctx, st, info.Key, manifest)
		if err != nil {
			t.Fatal(err)
		}
		blocks := func(from, to uint64) [][]byte {
			var out [][]byte
			for i := from; i < to; i++ {
				out = append(out, testBlock(i))
			}
			return out
		}
		// Wrong blocks or a signature for another length are refused and
		// leave the replica untouched.
		bad := blocks(0, 10)
		bad[4] = []byte("evil")
		if _, err := r.AppendSigned(ctx, 0, sig10, bad...); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("tampered blocks: %v", err)
		}
		if _, err := r.AppendSigned(ctx, 0, info.Signature, blocks(0, 10)...); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signature of another length: %v", err)
		}
		if r.Length() != 0 {
			t.Fatal("refused append changed the replica")
		}
		if _, err := r.AppendSigned(ctx, 0, sig10, blocks(0, 10)...); err != nil {
			t.Fatal(err)
		}
		if _, err := r.AppendSigned(ctx, 0, info.Signature, blocks(10, 25)...); err != nil {
			t.Fatal(err)
		}
		if got := r.Info(); fmt.Sprint(got) != fmt.Sprint(info) {
			t.Fatalf("replica differs:\n%+v\n%+v", got, info)
		}
		checkCore(t, r)
		if _, err := r.Append(ctx, []byte("x")); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("replica append: %v", err)
		}
		r.Close()
	}
	if _, err := CreateReplica(ctx, NewMemStorage(), [32]byte{1}, DefaultManifest(testKey(7).Public().(ed25519.PublicKey))); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("replica with foreign manifest: %v", err)
	}
}

// TestConcurrentReadersAndWriter runs readers and proofs during appends
// (meant for -race).
func TestConcurrentReadersAndWriter(t *testing.T) {
	fst, err := OpenFileStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []Storage{NewMemStorage(), fst} {
		concurrentReadersAndWriter(t, st)
	}
}

func concurrentReadersAndWriter(t *testing.T, st Storage) {
	ctx := context.Background()
	c, err := Create(ctx, st, testKey(8), false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	appendTestBlocks(t, c, 0, 1)
	done := make(chan error, 2)
	for w := 0; w < 2; w++ {
		go func() {
			for k := 0; k < 200; k++ {
				info := c.Info()
				i := uint64(k) % info.Length
				p, err := c.BlockProof(ctx, i)
				if err != nil {
					done <- err
					return
				}
				if _, err := VerifyProof(info.Key[:], nil, p); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for i := uint64(1); i < 60; i++ {
		appendTestBlocks(t, c, i, i+1)
	}
	for w := 0; w < 2; w++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestSeekAndReaderAt(t *testing.T) {
	ctx := context.Background()
	c, err := Create(ctx, NewMemStorage(), testKey(9), false)
	if err != nil {
		t.Fatal(err)
	}
	appendTestBlocks(t, c, 0, 37)
	var all []byte
	var starts []uint64
	for i := uint64(0); i < 37; i++ {
		starts = append(starts, uint64(len(all)))
		all = append(all, testBlock(i)...)
	}
	for i, s := range starts {
		got, err := c.ByteOffset(ctx, uint64(i))
		if err != nil || got != s {
			t.Fatalf("ByteOffset(%d) = %d, %v; want %d", i, got, err, s)
		}
	}
	if got, _ := c.ByteOffset(ctx, 37); got != uint64(len(all)) {
		t.Fatalf("ByteOffset(length) = %d", got)
	}
	for off := uint64(0); off < uint64(len(all)); off += 997 {
		idx, rel, err := c.Seek(ctx, off)
		if err != nil {
			t.Fatal(err)
		}
		if starts[idx]+rel != off || rel >= uint64(len(testBlock(idx))) {
			t.Fatalf("Seek(%d) = %d+%d", off, idx, rel)
		}
	}
	if _, _, err := c.Seek(ctx, uint64(len(all))); !errors.Is(err, io.EOF) {
		t.Fatalf("seek past the end: %v", err)
	}
	r := io.NewSectionReader(c.ReaderAt(ctx), 0, int64(len(all)))
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, all) {
		t.Fatalf("ReadAll: %d bytes, %v", len(got), err)
	}
	buf := make([]byte, 10000)
	if n, err := c.ReaderAt(ctx).ReadAt(buf, int64(len(all))-50); n != 50 || !errors.Is(err, io.EOF) {
		t.Fatalf("short read at the end: %d, %v", n, err)
	}
}

// TestSignAt: at the head with the writer's own key SignAt hands out the
// head's signature (no new one); below the head, or with another key, it
// signs the tree at that length. Every signature it returns is accepted by
// a replica for exactly that length, and one for another length or made by
// a key that is not the core's signer is refused and changes nothing.
func TestSignAt(t *testing.T) {
	ctx := context.Background()
	for _, compat := range []bool{false, true} {
		w, err := Create(ctx, NewMemStorage(), testKey(7), compat)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.SignAt(ctx, testKey(7), 1); err == nil {
			t.Fatal("signature beyond the head of an empty core")
		}
		appendTestBlocks(t, w, 0, 10)
		appendTestBlocks(t, w, 10, 25)
		info := w.Info()
		head, fork, err := w.SignAt(ctx, testKey(7), 25)
		if err != nil || fork != info.Fork {
			t.Fatalf("head: fork %d, %v", fork, err)
		}
		if !bytes.Equal(head, info.Signature) {
			t.Fatal("at the head SignAt did not give the head's signature")
		}
		head[0] ^= 1 // a copy: the core's head is untouched
		if !bytes.Equal(w.Info().Signature, info.Signature) {
			t.Fatal("SignAt handed out the core's own signature buffer")
		}
		sig10, _, err := w.SignAt(ctx, testKey(7), 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.SignAt(ctx, testKey(7), 26); err == nil {
			t.Fatal("signature beyond the head")
		}
		// Another key at the head signs anew: a replica refuses it.
		foreign, _, err := w.SignAt(ctx, testKey(8), 25)
		if err != nil && !errors.Is(err, ErrBadKey) {
			t.Fatal(err)
		}

		var manifest []byte
		if !compat {
			manifest = info.Manifest
		}
		r, err := CreateReplica(ctx, NewMemStorage(), info.Key, manifest)
		if err != nil {
			t.Fatal(err)
		}
		blocks := func(from, to uint64) [][]byte {
			var out [][]byte
			for i := from; i < to; i++ {
				out = append(out, testBlock(i))
			}
			return out
		}
		if _, err := r.AppendSigned(ctx, 0, sig10, blocks(0, 11)...); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signature of length 10 for 11 blocks: %v", err)
		}
		if r.Length() != 0 {
			t.Fatal("refused append changed the replica")
		}
		if _, err := r.AppendSigned(ctx, 0, sig10, blocks(0, 10)...); err != nil {
			t.Fatal(err)
		}
		if foreign != nil {
			if _, err := r.AppendSigned(ctx, 0, foreign, blocks(10, 25)...); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("signature by a foreign key: %v", err)
			}
			if r.Length() != 10 {
				t.Fatal("refused append changed the replica")
			}
		}
		if _, err := r.AppendSigned(ctx, 0, info.Signature, blocks(10, 25)...); err != nil {
			t.Fatal(err)
		}
		checkCore(t, r)
		// A replica (no writer key) signs with the key it is given.
		if _, _, err := r.SignAt(ctx, testKey(7), 25); err != nil {
			t.Fatal(err)
		}
	}
}
