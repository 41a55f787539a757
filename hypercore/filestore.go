package hypercore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// FileStorage keeps a core in a directory of plain files:
//
//	header   identity, written once (atomically) by Init
//	head     committed head, replaced atomically on every commit
//	data     blocks, back to back
//	offsets  u64le start offset of every block in data
//	tree     48-byte record per tree node at index*48:
//	         u64le size ‖ hash ‖ crc32c(u64le index ‖ size ‖ hash) ‖ "node"
//	lock     flock'ed while open, so one process owns the core
//
// Commit protocol: blocks, offsets and nodes are written past everything
// the current head covers (committed bytes are never overwritten), the
// three files are fsynced, then a new head file is written to head.tmp,
// fsynced, renamed over head, and the directory is fsynced. The rename is
// the commit point: a crash before it leaves the old head, whose files
// are intact; what lies past it is ignored and truncated on open. A
// commit that fails after it began writing (a failed write, fsync or
// rename) leaves the files in a state only recovery may judge (after a
// failed directory fsync the new head may or may not be on disk; after a
// failed fsync the kernel may have dropped dirty pages), so the storage
// refuses further commits with ErrStorageFailed until it is reopened.
// Init fsyncs the core directory and its parent, so a created core
// survives a crash (directories above the parent that OpenFileStorage
// created are the caller's to sync). Every
// block read is also checked against its tree node by Core.Get, and every
// node record carries a checksum, so damage after the fact is reported as
// ErrCorrupt instead of served.
type FileStorage struct {
	dir  string
	lock *os.File

	cmu     sync.Mutex   // serialises Commit and Close; readers never wait for it
	mu      sync.RWMutex // guards head, closed, hasCore, header; held by reads
	hasCore bool
	header  Header
	head    Head
	closed  bool
	failed  error // guarded by cmu: why a commit failed half way

	// syncDir fsyncs a directory; tests replace it to inject failures.
	syncDir func(dir string) error
	// noSync skips every fsync of commits (SetNoSync); the head is then
	// rewritten in place through headW.
	noSync bool
	headW  *os.File

	data, offsets, tree *os.File
}

// ErrStorageFailed is returned by Commit after an earlier commit failed
// half way; reopen the storage to recover.
var ErrStorageFailed = errors.New("hypercore: storage failed, reopen it")

const (
	nodeRecord   = 48
	headerMagic  = "DDHCHDR1"
	headMagic    = "DDHCHED1"
	nodeMagic    = "node"
	maxManifestB = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// OpenFileStorage opens (creating if needed) the core directory dir and
// recovers from an interrupted commit.
func OpenFileStorage(dir string) (*FileStorage, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	s := &FileStorage{dir: dir, syncDir: fsyncDir}
	var err error
	if s.lock, err = lockDir(filepath.Join(dir, "lock")); err != nil {
		return nil, fmt.Errorf("open storage %s: %w", dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			s.closeFiles()
		}
	}()
	for _, f := range []struct {
		name string
		dst  **os.File
	}{{"data", &s.data}, {"offsets", &s.offsets}, {"tree", &s.tree}} {
		if *f.dst, err = os.OpenFile(filepath.Join(dir, f.name), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
			return nil, fmt.Errorf("open storage: %w", err)
		}
	}
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("open storage %s: %w", dir, err)
	}
	ok = true
	return s, nil
}

func (s *FileStorage) recover() error {
	raw, err := os.ReadFile(filepath.Join(s.dir, "header"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // empty: Init will make the core
	}
	if err != nil {
		return err
	}
	h, err := decodeHeaderFile(raw)
	if err != nil {
		return err
	}
	s.header, s.hasCore = h, true
	raw, err = os.ReadFile(filepath.Join(s.dir, "head"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.head = Head{}
	case err != nil:
		return err
	default:
		if s.head, err = decodeHeadFile(raw); err != nil {
			return err
		}
	}
	_ = os.Remove(filepath.Join(s.dir, "head.tmp"))
	// Everything past the head is from an interrupted commit: drop it, and
	// check that what the head covers is there.
	for _, f := range []struct {
		file *os.File
		size uint64
	}{{s.data, s.head.ByteLength}, {s.offsets, 8 * s.head.Length}, {s.tree, treeFileSize(s.head.Length)}} {
		st, err := f.file.Stat()
		if err != nil {
			return err
		}
		if uint64(st.Size()) < f.size {
			return fmt.Errorf("%w: %s is %d bytes, head needs %d", ErrCorrupt, f.file.Name(), st.Size(), f.size)
		}
		if uint64(st.Size()) > f.size {
			if err := f.file.Truncate(int64(f.size)); err != nil {
				return err
			}
		}
	}
	return nil
}

// treeFileSize is the size of the tree file at length: the highest node
// of a tree of length L is its last leaf, 2L-2.
func treeFileSize(length uint64) uint64 {
	if length == 0 {
		return 0
	}
	return nodeRecord * (2*length - 1)
}

func encodeHeaderFile(h Header) []byte {
	b := []byte(headerMagic)
	flags := byte(0)
	if h.Compat {
		flags = 1
	}
	b = append(b, flags)
	b = append(b, h.Key[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h.Manifest)))
	b = append(b, h.Manifest...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeHeaderFile(b []byte) (Header, error) {
	bad := func(why string) (Header, error) {
		return Header{}, fmt.Errorf("%w: header file: %s", ErrCorrupt, why)
	}
	if len(b) < len(headerMagic)+1+32+4+4 || string(b[:len(headerMagic)]) != headerMagic {
		return bad("bad magic or size")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return bad("checksum mismatch")
	}
	p := body[len(headerMagic):]
	h := Header{Compat: p[0]&1 != 0, Key: [32]byte(p[1:33])}
	n := binary.LittleEndian.Uint32(p[33:37])
	if uint64(n) != uint64(len(p)-37) {
		return bad("manifest length mismatch")
	}
	h.Manifest = bytes.Clone(p[37:])
	return h, nil
}

func encodeHeadFile(h Head) []byte {
	b := []byte(headMagic)
	b = binary.LittleEndian.AppendUint64(b, h.Length)
	b = binary.LittleEndian.AppendUint64(b, h.ByteLength)
	b = binary.LittleEndian.AppendUint64(b, h.Fork)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h.Signature)))
	b = append(b, h.Signature...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeHeadFile(b []byte) (Head, error) {
	const fixed = len(headMagic) + 8*3 + 4
	if len(b) < fixed+4 || string(b[:len(headMagic)]) != headMagic {
		return Head{}, fmt.Errorf("%w: head file: bad magic or size", ErrCorrupt)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return Head{}, fmt.Errorf("%w: head file: checksum mismatch", ErrCorrupt)
	}
	p := body[len(headMagic):]
	h := Head{
		Length:     binary.LittleEndian.Uint64(p[0:]),
		ByteLength: binary.LittleEndian.Uint64(p[8:]),
		Fork:       binary.LittleEndian.Uint64(p[16:]),
	}
	if n := binary.LittleEndian.Uint32(p[24:]); uint64(n) != uint64(len(p)-28) {
		return Head{}, fmt.Errorf("%w: head file: signature length mismatch", ErrCorrupt)
	}
	if h.Length >= MaxLength {
		return Head{}, fmt.Errorf("%w: head file: length %d", ErrCorrupt, h.Length)
	}
	h.Signature = bytes.Clone(p[28:])
	return h, nil
}

// writeFileAtomic replaces name with data: tmp file, fsync, rename, fsync dir.
func (s *FileStorage) writeFileAtomic(name string, data []byte) error {
	tmp := filepath.Join(s.dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		return err
	}
	return s.syncDir(s.dir)
}

// writeHeadNoSync rewrites the head file in place, without fsync (a
// crash may leave it torn: its checksum then fails and the storage does
// not open).
func (s *FileStorage) writeHeadNoSync(data []byte) error {
	if s.headW == nil {
		f, err := os.OpenFile(filepath.Join(s.dir, "head"), os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		s.headW = f
	}
	if _, err := s.headW.WriteAt(data, 0); err != nil {
		return err
	}
	if st, err := s.headW.Stat(); err != nil {
		return err
	} else if st.Size() != int64(len(data)) {
		return s.headW.Truncate(int64(len(data)))
	}
	return nil
}

// SetNoSync turns off (or back on) the fsyncs of every later commit: a
// commit then reaches the page cache only, and a crash of the machine may
// lose it or leave the storage torn (OpenFileStorage then recovers what is
// consistent, or fails). For working copies whose durability lies
// elsewhere, e.g. a gateway's local cores once they are pushed to hosters;
// call Sync before relying on what is on disk.
func (s *FileStorage) SetNoSync(off bool) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.noSync = off
	if !off && s.headW != nil {
		// Commits with fsync replace the head file: the handle would
		// point at the old one.
		s.headW.Sync()
		s.headW.Close()
		s.headW = nil
	}
}

// Sync makes every commit so far durable (what SetNoSync skipped).
func (s *FileStorage) Sync() error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, f := range []*os.File{s.data, s.offsets, s.tree} {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", f.Name(), err)
		}
	}
	if s.headW != nil {
		if err := s.headW.Sync(); err != nil {
			return fmt.Errorf("sync head: %w", err)
		}
	}
	return s.syncDir(s.dir)
}

func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Init writes the header of a new core.
func (s *FileStorage) Init(_ context.Context, h Header) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.hasCore {
		return ErrExists
	}
	if len(h.Manifest) > maxManifestB {
		return fmt.Errorf("%w: manifest of %d bytes", ErrBadManifest, len(h.Manifest))
	}
	if err := s.writeFileAtomic("header", encodeHeaderFile(h)); err != nil {
		return fmt.Errorf("init storage: %w", err)
	}
	// The core directory may be new: make its entry durable too.
	if err := s.syncDir(filepath.Dir(s.dir)); err != nil {
		return fmt.Errorf("init storage: %w", err)
	}
	h.Manifest = bytes.Clone(h.Manifest)
	s.header, s.hasCore, s.head = h, true, Head{}
	return nil
}

// Load returns the header and committed head.
func (s *FileStorage) Load(context.Context) (Header, Head, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Header{}, Head{}, ErrClosed
	}
	if !s.hasCore {
		return Header{}, Head{}, ErrNoCore
	}
	h := s.header
	h.Manifest = bytes.Clone(h.Manifest)
	hd := s.head
	hd.Signature = bytes.Clone(hd.Signature)
	return h, hd, nil
}

// appendNodeRecord appends the tree file record of n to b.
func appendNodeRecord(b []byte, n Node) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint64(b, n.Size)
	b = append(b, n.Hash[:]...)
	b = binary.LittleEndian.AppendUint32(b, nodeChecksum(n.Index, b[start:]))
	return append(b, nodeMagic...)
}

func nodeChecksum(index uint64, rec []byte) uint32 {
	var ib [8]byte
	binary.LittleEndian.PutUint64(ib[:], index)
	return crc32.Update(crc32.Checksum(ib[:], castagnoli), castagnoli, rec)
}

// Node reads node index from the tree file and checks its record.
func (s *FileStorage) Node(_ context.Context, index uint64) (Node, error) {
	// Reads hold mu so that Close waits for them: a read racing with
	// Close fails with ErrClosed, not with a read error taken for damage.
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Node{}, ErrClosed
	}
	return s.node(index)
}

// node is Node with mu held.
func (s *FileStorage) node(index uint64) (Node, error) {
	if index >= 2*s.head.Length {
		return Node{}, fmt.Errorf("%w: node %d", ErrNotFound, index)
	}
	rec := make([]byte, nodeRecord)
	if _, err := s.tree.ReadAt(rec, int64(index)*nodeRecord); err != nil {
		return Node{}, fmt.Errorf("%w: node %d: %w", ErrCorrupt, index, err)
	}
	if string(rec[44:]) != nodeMagic || binary.LittleEndian.Uint32(rec[40:]) != nodeChecksum(index, rec[:40]) {
		return Node{}, fmt.Errorf("%w: node %d: bad record", ErrCorrupt, index)
	}
	return Node{Index: index, Size: binary.LittleEndian.Uint64(rec), Hash: [32]byte(rec[8:40])}, nil
}

// Block reads block index; its size comes from its tree node.
func (s *FileStorage) Block(_ context.Context, index uint64) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	head := s.head
	if index >= head.Length {
		return nil, fmt.Errorf("%w: block %d", ErrNotFound, index)
	}
	n, err := s.node(2 * index)
	if err != nil {
		return nil, err
	}
	var ob [8]byte
	if _, err := s.offsets.ReadAt(ob[:], int64(index)*8); err != nil {
		return nil, fmt.Errorf("%w: offset of block %d: %w", ErrCorrupt, index, err)
	}
	off := binary.LittleEndian.Uint64(ob[:])
	if off > head.ByteLength || n.Size > head.ByteLength-off {
		return nil, fmt.Errorf("%w: block %d at %d+%d beyond %d bytes", ErrCorrupt, index, off, n.Size, head.ByteLength)
	}
	b := make([]byte, n.Size)
	if _, err := s.data.ReadAt(b, int64(off)); err != nil {
		return nil, fmt.Errorf("%w: block %d: %w", ErrCorrupt, index, err)
	}
	return b, nil
}

// Commit writes c past the committed state, syncs, then swaps the head.
func (s *FileStorage) Commit(ctx context.Context, c *Commit) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.failed != nil {
		return fmt.Errorf("commit: %w: earlier commit failed: %w", ErrStorageFailed, s.failed)
	}
	return s.commit(ctx, c)
}

// commit is Commit with cmu held. Errors before the first write leave the
// storage usable; later ones mark it failed.
func (s *FileStorage) commit(ctx context.Context, c *Commit) (err error) {
	s.mu.RLock()
	closed, hasCore, old := s.closed, s.hasCore, s.head
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if !hasCore {
		return ErrNoCore
	}
	if old.Length+uint64(len(c.Blocks)) != c.Head.Length {
		return fmt.Errorf("commit: %d blocks at length %d to length %d", len(c.Blocks), old.Length, c.Head.Length)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Blocks and offsets.
	var size uint64
	for _, b := range c.Blocks {
		size += uint64(len(b))
	}
	if old.ByteLength+size != c.Head.ByteLength {
		return fmt.Errorf("commit: byte length %d+%d != %d", old.ByteLength, size, c.Head.ByteLength)
	}
	for _, n := range c.Nodes {
		if n.Index >= 2*c.Head.Length {
			return fmt.Errorf("commit: node %d beyond length %d", n.Index, c.Head.Length)
		}
	}
	defer func() {
		if err != nil {
			s.failed = err
		}
	}()
	offs := make([]byte, 0, 8*len(c.Blocks))
	pos := old.ByteLength
	for _, b := range c.Blocks {
		offs = binary.LittleEndian.AppendUint64(offs, pos)
		pos += uint64(len(b))
	}
	if err := writeBlocks(s.data, int64(old.ByteLength), c.Blocks); err != nil {
		return fmt.Errorf("commit: data: %w", err)
	}
	if _, err := s.offsets.WriteAt(offs, int64(old.Length)*8); err != nil {
		return fmt.Errorf("commit: offsets: %w", err)
	}
	// Nodes, in runs of consecutive indexes.
	nodes := slices.Clone(c.Nodes)
	slices.SortFunc(nodes, func(a, b Node) int { return compareU64(a.Index, b.Index) })
	for i := 0; i < len(nodes); {
		j := i + 1
		for j < len(nodes) && nodes[j].Index == nodes[j-1].Index+1 {
			j++
		}
		buf := make([]byte, 0, nodeRecord*(j-i))
		for _, n := range nodes[i:j] {
			buf = appendNodeRecord(buf, n)
		}
		if _, err := s.tree.WriteAt(buf, int64(nodes[i].Index)*nodeRecord); err != nil {
			return fmt.Errorf("commit: tree: %w", err)
		}
		i = j
	}
	if s.noSync {
		if err := s.writeHeadNoSync(encodeHeadFile(c.Head)); err != nil {
			return fmt.Errorf("commit: head: %w", err)
		}
		h := c.Head
		h.Signature = bytes.Clone(h.Signature)
		s.mu.Lock()
		s.head = h
		s.mu.Unlock()
		return nil
	}
	// The three files are synced at once (the file system can put them in
	// one journal commit); the head is written only after all three.
	var wg sync.WaitGroup
	files := []*os.File{s.data, s.offsets, s.tree}
	errs := make([]error, len(files))
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.Sync(); err != nil {
				errs[i] = fmt.Errorf("commit: sync %s: %w", f.Name(), err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := s.writeFileAtomic("head", encodeHeadFile(c.Head)); err != nil {
		return fmt.Errorf("commit: head: %w", err)
	}
	h := c.Head
	h.Signature = bytes.Clone(h.Signature)
	s.mu.Lock()
	s.head = h
	s.mu.Unlock()
	return nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeBlocks writes blocks back to back at off. Blocks of 32 KiB or more
// are written as they are; runs of smaller ones are gathered into one
// write of up to 4 MiB, so small blocks do not cost a syscall each and
// large ones are not copied.
func writeBlocks(f *os.File, off int64, blocks [][]byte) error {
	const (
		direct = 32 << 10
		chunk  = 4 << 20
	)
	var buf []byte
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := f.WriteAt(buf, off)
		off += int64(len(buf))
		buf = buf[:0]
		return err
	}
	for i, b := range blocks {
		if len(b) >= direct {
			if err := flush(); err != nil {
				return err
			}
			if _, err := f.WriteAt(b, off); err != nil {
				return err
			}
			off += int64(len(b))
			continue
		}
		if len(buf)+len(b) > chunk {
			if err := flush(); err != nil {
				return err
			}
		}
		if buf == nil {
			buf = make([]byte, 0, min(chunk, smallBytes(blocks[i:], direct)))
		}
		buf = append(buf, b...)
	}
	return flush()
}

// smallBytes is the total size of the blocks shorter than limit.
func smallBytes(blocks [][]byte, limit int) int {
	n := 0
	for _, b := range blocks {
		if len(b) < limit {
			n += len(b)
		}
	}
	return n
}

func (s *FileStorage) closeFiles() {
	for _, f := range []*os.File{s.data, s.offsets, s.tree, s.lock, s.headW} {
		if f != nil {
			f.Close()
		}
	}
}

// Close closes the files and releases the directory lock.
func (s *FileStorage) Close() error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.closeFiles()
	return nil
}
