package hypercore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/datdot/datdot/hypercore/flattree"
)

// FileStorage keeps a core in a directory of plain files:
//
//	header   identity, written once (atomically) by Init
//	head     two slots (at 0 and at 64 KiB), each a committed head with a
//	         sequence number and a checksum; commits rewrite them in turn
//	data     blocks, back to back
//	offsets  u64le start offset of every block in data (derived from the
//	         tree: rebuilt on open where it may not be durable)
//	tree     48-byte record per tree node at index*48:
//	         u64le size ‖ hash ‖ crc32c(u64le index ‖ size ‖ hash) ‖ "node"
//	lock     flock'ed while open, so one process owns the core
//
// Commit protocol: blocks, offsets and nodes are written past everything
// the current head covers (committed bytes are never overwritten), the new
// head goes into the slot that does not hold the current head, and data,
// tree and head are fsynced at once: one round of fsyncs per commit, with
// no file created, renamed or directory synced. The slot holding the
// current head is never written, and everything it covers was durable
// before the commit began, so a crash leaves either the new head with all
// it covers, or a new head whose bytes are not all on disk, or a torn
// slot. On open the newest slot with a valid checksum is taken; if it
// says its commit was not synced before the slot was written, the commit
// is checked: its blocks against its leaf nodes (back to back from where
// the commit began), every new parent node recomputed, and the writer's
// signature over the resulting tree. A commit that fails the check is
// dropped (its slot is cleared) and the other slot, the previous head, is
// taken. What lies past the head taken is from an interrupted commit and
// is truncated. A commit of more than 64 MiB syncs its data before
// writing the slot instead, so that the check on open never re-reads more
// than that; a clean Close marks the head synced so that a normal open
// checks nothing. Heads written by older versions (a single record
// replaced by rename; slots without the offsets mark below) are read as
// they were meant.
//
// The offsets file is not synced with every commit: each slot records how
// far it was synced before the slot was written, and a commit syncs it
// (in the same round) once 4096 blocks' offsets are unsynced. On open the
// offsets past that mark are written again from the leaf nodes (block i
// ends where block i+1 starts, the last at the head's byte length) and
// synced, so a crash that lost or tore them costs at most 4096 leaf reads
// plus those of the last commit's blocks (with fsyncs on; with SetNoSync,
// everything since the last Sync). An offset the leaves cannot give
// (between two damaged leaf records) is set to math.MaxUint64, past any
// byte length the core can ever reach (also after it grows): a read of
// those blocks, checked (Block) or unchecked (ReadBlocks, OpenBlocks),
// reports ErrCorrupt, and so does an unchecked read of the block before
// them (its end is that offset); never bytes of a wrong length. (Both
// compare offsets before subtracting them, so the marker never
// overflows into a valid range.) A clean Close syncs the offsets too,
// so that a normal open rebuilds nothing.
//
// A commit that fails after it began writing (a failed write or fsync)
// leaves the files in a state only recovery may judge (after a failed
// fsync the kernel may have dropped dirty pages), so the storage refuses
// further commits with ErrStorageFailed until it is reopened. Init
// fsyncs the core directory and its parent, so a created core survives a
// crash (directories above the parent that OpenFileStorage created are
// the caller's to sync). Every block read is also checked against its
// tree node by Core.Get, and every node record carries a checksum, so
// damage after the fact is reported as ErrCorrupt instead of served. A
// damaged newest head slot falls back to the previous head like a torn
// one; both slots damaged is ErrCorrupt.
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

	// syncDir fsyncs a directory, syncFile a file; tests replace them to
	// inject failures.
	syncDir  func(dir string) error
	syncFile func(f *os.File) error
	// noSync skips every fsync of commits (SetNoSync).
	noSync bool
	// reserveStep is how far past a commit's end the data file's disk
	// blocks are reserved (SetReserve; 0: none), reserved the end of the
	// reserved range (both guarded by cmu).
	reserveStep int64
	reserved    int64
	// oneRoundMax is the largest commit synced in one round (tests lower
	// it).
	oneRoundMax uint64
	// offsetsEvery is the most blocks whose offsets are left unsynced
	// (tests change it).
	offsetsEvery uint64
	// offsetsSynced is the length up to which the offsets file is
	// durable (guarded by cmu).
	offsetsSynced uint64

	// slot is the head slot (0 or 1) holding head, seq its sequence
	// number, unverified whether it is flagged as not synced before it
	// was written (guarded by cmu).
	slot       int
	seq        uint64
	unverified bool

	data, offsets, tree, headF *os.File

	// spare keeps descriptors of the data file for OpenBlocks (closed
	// and dropped once spareClosed).
	smu         sync.Mutex
	spare       []*os.File
	spareClosed bool
}

// ErrStorageFailed is returned by Commit after an earlier commit failed
// half way; reopen the storage to recover.
var ErrStorageFailed = errors.New("hypercore: storage failed, reopen it")

const (
	nodeRecord   = 48
	headerMagic  = "DDHCHDR1"
	headMagic    = "DDHCHED1" // the single head record of older versions
	slotMagic    = "DDHCHED3"
	slotMagicV2  = "DDHCHED2" // a head slot of older versions (no offsetsSynced)
	nodeMagic    = "node"
	maxManifestB = 1 << 16
	// headSlotSize is the size of a head slot: the second one starts
	// there. A head record must fit in it.
	headSlotSize = 1 << 16
	// oneRoundMax is the largest commit (in block bytes) synced in one
	// round with its head; larger ones sync their data first.
	oneRoundMax = 64 << 20
	// slotUnverified flags a head written before its commit was synced.
	slotUnverified = 1
	// offsetsEvery is how many blocks' offsets may be left unsynced: a
	// commit that takes the unsynced ones to that many syncs the offsets
	// file too, so an open after a crash rebuilds at most that many
	// (plus the last commit's blocks, which it checks anyway).
	offsetsEvery = 4096
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// OpenFileStorage opens (creating if needed) the core directory dir and
// recovers from an interrupted commit.
func OpenFileStorage(dir string) (*FileStorage, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	s := &FileStorage{dir: dir, syncDir: fsyncDir, syncFile: (*os.File).Sync, oneRoundMax: oneRoundMax, offsetsEvery: offsetsEvery}
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
	_ = os.Remove(filepath.Join(s.dir, "head.tmp")) // left by older versions
	if err := s.loadHead(); err != nil {
		return err
	}
	// The offsets past what was synced may not have reached the disk:
	// they are written again from the tree.
	if err := s.rebuildOffsets(); err != nil {
		return err
	}
	// Everything past the head is from an interrupted commit: drop it, and
	// check that what the head covers is there.
	return s.truncatePastHead()
}

// rebuildOffsets writes the offsets of blocks s.offsetsSynced..length
// from their leaf nodes (the tree is durable, the offsets file is synced
// only now and then) and syncs them. Block i starts where block i+1
// starts less its size, the last one ends at the head's byte length;
// going down from there, then up from the start of the first block (the
// size of the roots before it), a damaged leaf record stops a pass. An
// offset neither pass finds (between two damaged leaves) is set to
// lostOffset, beyond any byte length the core can reach, now or after
// later appends: a read of that block, checked or not, and an unchecked
// read of the block before it then report damage, as for the damaged
// leaves themselves, and the core is repaired like any other. (The byte
// length itself would be a valid start, of an empty block or of the
// data's end, and the byte length plus one becomes one as soon as the
// core grows: an unchecked read got such blocks with wrong lengths and
// no error.)
func (s *FileStorage) rebuildOffsets() error {
	w, h := s.offsetsSynced, s.head
	if w >= h.Length {
		return nil
	}
	n := h.Length - w
	offs := make([]uint64, n)
	known := make([]bool, n)
	end := h.ByteLength
	for i := h.Length; i > w; i-- {
		leaf, err := s.readNode(2 * (i - 1))
		if err != nil || leaf.Size > end {
			break
		}
		end -= leaf.Size
		offs[i-1-w], known[i-1-w] = end, true
	}
	if !known[0] {
		var pos uint64
		ok := true
		for _, idx := range flattree.FullRoots(nil, 2*w) {
			r, err := s.readNode(idx)
			if err != nil {
				ok = false
				break
			}
			pos += r.Size
		}
		for i := w; ok && i < h.Length && !known[i-w] && pos <= h.ByteLength; i++ {
			offs[i-w], known[i-w] = pos, true
			leaf, err := s.readNode(2 * i)
			if err != nil {
				break
			}
			pos += leaf.Size
		}
	}
	buf := make([]byte, 8*n)
	for i, off := range offs {
		if !known[i] {
			off = lostOffset
		}
		binary.LittleEndian.PutUint64(buf[8*i:], off)
	}
	if _, err := s.offsets.WriteAt(buf, int64(w)*8); err != nil {
		return fmt.Errorf("rebuild offsets: %w", err)
	}
	if err := s.syncFile(s.offsets); err != nil {
		return fmt.Errorf("rebuild offsets: %w", err)
	}
	s.offsetsSynced = h.Length
	return nil
}

// lostOffset is what rebuildOffsets records for a block whose offset it
// cannot find: an offset past any byte length, which every read refuses
// however far the core has grown since (Block: the block starts beyond
// the data; spans: the block starts past its end, or the block before it
// ends beyond the data). Reads compare it before subtracting from it.
const lostOffset = math.MaxUint64

// truncatePastHead cuts the files to what s.head covers and checks that
// they hold at least that.
func (s *FileStorage) truncatePastHead() error {
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
		// The data file is cut even at its size: that frees blocks a
		// writer reserved past its end (SetReserve) and left there when
		// it crashed.
		if uint64(st.Size()) > f.size || f.file == s.data {
			if err := f.file.Truncate(int64(f.size)); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadHead opens the head file and takes its newest slot whose commit is
// intact (see FileStorage).
func (s *FileStorage) loadHead() error {
	path := filepath.Join(s.dir, "head")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		// A core an older version made and never committed to: make the
		// head file (the empty head in slot 0).
		if err := s.writeFileAtomic("head", encodeHeadSlot(headSlot{})); err != nil {
			return err
		}
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return err
	}
	if s.headF, err = os.OpenFile(path, os.O_RDWR, 0o644); err != nil {
		return err
	}
	var slots []headSlot
	for i, off := range []int{0, headSlotSize} {
		if off >= len(raw) {
			break
		}
		if sl, err := decodeHeadSlot(raw[off:min(len(raw), off+headSlotSize)]); err == nil {
			sl.index = i
			slots = append(slots, sl)
		}
	}
	if len(slots) == 0 {
		return fmt.Errorf("%w: head file: no valid head", ErrCorrupt)
	}
	slices.SortFunc(slots, func(a, b headSlot) int { return compareU64(b.seq, a.seq) })
	var firstErr error
	for i, sl := range slots {
		if sl.flags&slotUnverified != 0 {
			err := s.verifyCommit(sl)
			if err == nil {
				// What was read may have come from the page cache of a
				// killed process (or of a commit whose fsync failed): make
				// it durable, head included, before relying on it (the
				// next commit overwrites the other slot).
				if err := s.syncFiles(s.data, s.offsets, s.tree, s.headF); err != nil {
					return err
				}
			} else {
				if !errors.Is(err, ErrCorrupt) {
					return err // not a verdict on the commit (an I/O error)
				}
				firstErr = cmp.Or(firstErr, err)
				if i+1 < len(slots) {
					// The commit did not reach the disk whole: forget it
					// for good, so that a later open does not take it.
					if err := s.clearSlot(sl.index); err != nil {
						return err
					}
				}
				continue
			}
		}
		s.head, s.slot, s.seq, s.unverified = sl.head, sl.index, sl.seq, sl.flags&slotUnverified != 0
		s.offsetsSynced = sl.offsetsSynced
		return nil
	}
	return fmt.Errorf("%w: head file: no head whose commit is intact: %w", ErrCorrupt, firstErr)
}

// slotOffset is where head slot i starts in the head file.
func (s *FileStorage) slotOffset(i int) int64 { return int64(i) * headSlotSize }

// clearSlot overwrites head slot i's magic and syncs the head file.
func (s *FileStorage) clearSlot(i int) error {
	if _, err := s.headF.WriteAt(make([]byte, len(slotMagic)), s.slotOffset(i)); err != nil {
		return err
	}
	return s.syncFile(s.headF)
}

// verifyCommit checks that the commit sl records (from its base to its
// head) is on disk whole: every block against its leaf node (the blocks
// lie back to back from the base's byte length), every new parent node
// against its recomputation, and the writer's signature over the
// resulting tree. Offsets are not checked: recovery rebuilds them.
func (s *FileStorage) verifyCommit(sl headSlot) error {
	h := sl.head
	if sl.baseLength > h.Length || sl.baseByteLength > h.ByteLength {
		return fmt.Errorf("%w: head slot base %d/%d beyond its head %d/%d", ErrCorrupt, sl.baseLength, sl.baseByteLength, h.Length, h.ByteLength)
	}
	for _, f := range []struct {
		file *os.File
		size uint64
	}{{s.data, h.ByteLength}, {s.tree, treeFileSize(h.Length)}} {
		st, err := f.file.Stat()
		if err != nil {
			return err
		}
		if uint64(st.Size()) < f.size {
			return fmt.Errorf("%w: %s is %d bytes, head needs %d", ErrCorrupt, f.file.Name(), st.Size(), f.size)
		}
	}
	var roots []Node
	for _, idx := range flattree.FullRoots(nil, 2*sl.baseLength) {
		n, err := s.readNode(idx)
		if err != nil {
			return err
		}
		roots = append(roots, n)
	}
	pos := sl.baseByteLength
	var buf []byte
	for i := sl.baseLength; i < h.Length; i++ {
		leaf, err := s.readNode(2 * i)
		if err != nil {
			return err
		}
		if leaf.Size > h.ByteLength-pos {
			return fmt.Errorf("%w: block %d of %d bytes beyond the head", ErrCorrupt, i, leaf.Size)
		}
		if uint64(cap(buf)) < leaf.Size {
			buf = make([]byte, leaf.Size)
		}
		b := buf[:leaf.Size]
		if _, err := s.data.ReadAt(b, int64(pos)); err != nil {
			return fmt.Errorf("%w: block %d: %w", ErrCorrupt, i, err)
		}
		if LeafHash(b) != leaf.Hash {
			return fmt.Errorf("%w: block %d does not match its leaf node", ErrCorrupt, i)
		}
		pos += leaf.Size
		var bad error
		roots = growTree(roots, leaf, func(p Node) {
			if bad != nil {
				return
			}
			stored, err := s.readNode(p.Index)
			if err == nil && stored != p {
				err = fmt.Errorf("%w: node %d differs from its recomputation", ErrCorrupt, p.Index)
			}
			bad = err
		})
		if bad != nil {
			return bad
		}
	}
	if pos != h.ByteLength {
		return fmt.Errorf("%w: blocks end at byte %d, head says %d", ErrCorrupt, pos, h.ByteLength)
	}
	var manifest []byte
	if !s.header.Compat {
		manifest = s.header.Manifest
	}
	th := TreeHash(roots)
	if err := VerifyTreeSignature(s.header.Key[:], manifest, th[:], h.Length, h.Fork, h.Signature); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
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

// headSlot is one slot of the head file.
type headSlot struct {
	index int // 0 or 1 (where it was read)
	seq   uint64
	flags byte
	head  Head
	// baseLength and baseByteLength are the head the commit started from
	// (what a check of an unverified slot starts from).
	baseLength, baseByteLength uint64
	// offsetsSynced is the length up to which the offsets file was
	// durable before the slot was written; the offsets of later blocks
	// are rebuilt from the tree on open.
	offsetsSynced uint64
}

// encodeHeadSlot encodes a head slot:
//
//	"DDHCHED3" ‖ u64le seq ‖ flags ‖ u64le length ‖ u64le byteLength ‖
//	u64le fork ‖ u64le baseLength ‖ u64le baseByteLength ‖
//	u64le offsetsSynced ‖ u32le n ‖ n bytes signature ‖ crc32c of all
//	before
//
// ("DDHCHED2", of earlier versions, lacks offsetsSynced.)
func encodeHeadSlot(sl headSlot) []byte {
	b := make([]byte, 0, len(slotMagic)+8+1+6*8+4+len(sl.head.Signature)+4)
	b = append(b, slotMagic...)
	b = binary.LittleEndian.AppendUint64(b, sl.seq)
	b = append(b, sl.flags)
	b = binary.LittleEndian.AppendUint64(b, sl.head.Length)
	b = binary.LittleEndian.AppendUint64(b, sl.head.ByteLength)
	b = binary.LittleEndian.AppendUint64(b, sl.head.Fork)
	b = binary.LittleEndian.AppendUint64(b, sl.baseLength)
	b = binary.LittleEndian.AppendUint64(b, sl.baseByteLength)
	b = binary.LittleEndian.AppendUint64(b, sl.offsetsSynced)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(sl.head.Signature)))
	b = append(b, sl.head.Signature...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeHeadSlot decodes the slot at the start of b (what follows the
// record is ignored); a record of an older version ("DDHCHED1", the whole
// head file then) is a synced slot of sequence 0. Older versions synced
// the offsets file with every commit: a slot they wrote ("DDHCHED1",
// "DDHCHED2") has offsets synced up to its head if it was synced, up to
// its base if not.
func decodeHeadSlot(b []byte) (headSlot, error) {
	bad := func(why string) (headSlot, error) {
		return headSlot{}, fmt.Errorf("%w: head slot: %s", ErrCorrupt, why)
	}
	var sl headSlot
	var fixed int
	switch {
	case len(b) >= len(slotMagic) && string(b[:len(slotMagic)]) == slotMagic:
		fixed = len(slotMagic) + 8 + 1 + 6*8 + 4
	case len(b) >= len(slotMagicV2) && string(b[:len(slotMagicV2)]) == slotMagicV2:
		fixed = len(slotMagicV2) + 8 + 1 + 5*8 + 4
	case len(b) >= len(headMagic) && string(b[:len(headMagic)]) == headMagic:
		fixed = len(headMagic) + 3*8 + 4
	default:
		return bad("bad magic")
	}
	if len(b) < fixed+4 {
		return bad("short")
	}
	n := uint64(binary.LittleEndian.Uint32(b[fixed-4:]))
	if n > uint64(len(b)-fixed-4) {
		return bad("signature length beyond the slot")
	}
	body := b[:fixed+int(n)]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(body):]) {
		return bad("checksum mismatch")
	}
	p := body[len(slotMagic):]
	magic := string(b[:len(slotMagic)])
	if magic == headMagic {
		sl.head = Head{Length: binary.LittleEndian.Uint64(p[0:]), ByteLength: binary.LittleEndian.Uint64(p[8:]), Fork: binary.LittleEndian.Uint64(p[16:])}
		sl.baseLength, sl.baseByteLength = sl.head.Length, sl.head.ByteLength
	} else {
		sl.seq, sl.flags = binary.LittleEndian.Uint64(p[0:]), p[8]
		p = p[9:]
		sl.head = Head{Length: binary.LittleEndian.Uint64(p[0:]), ByteLength: binary.LittleEndian.Uint64(p[8:]), Fork: binary.LittleEndian.Uint64(p[16:])}
		sl.baseLength, sl.baseByteLength = binary.LittleEndian.Uint64(p[24:]), binary.LittleEndian.Uint64(p[32:])
	}
	switch {
	case magic == slotMagic:
		sl.offsetsSynced = binary.LittleEndian.Uint64(p[40:])
	case sl.flags&slotUnverified != 0:
		sl.offsetsSynced = sl.baseLength
	default:
		sl.offsetsSynced = sl.head.Length
	}
	if sl.head.Length >= MaxLength {
		return bad(fmt.Sprintf("length %d", sl.head.Length))
	}
	if sl.offsetsSynced > sl.head.Length {
		return bad(fmt.Sprintf("offsets synced to %d beyond the length %d", sl.offsetsSynced, sl.head.Length))
	}
	sl.head.Signature = bytes.Clone(body[fixed:])
	return sl, nil
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

// SetNoSync turns off (or back on) the fsyncs of every later commit: a
// commit then reaches the page cache only, and a crash of the machine may
// lose it or leave the storage torn (OpenFileStorage then recovers what is
// consistent, or fails). For working copies whose durability lies
// elsewhere, e.g. a gateway's local cores once they are pushed to hosters;
// call Sync before relying on what is on disk. Turning fsyncs back on
// syncs what was committed without them.
func (s *FileStorage) SetNoSync(off bool) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.noSync && !off && !s.closed && s.failed == nil && s.headF != nil {
		// A commit relies on the head before it being durable.
		if err := s.syncFiles(s.data, s.offsets, s.tree, s.headF); err != nil {
			s.failed = err
		} else {
			s.offsetsSynced = s.committedLength()
		}
	}
	s.noSync = off
}

// SetReserve makes commits reserve the data file's disk blocks ahead of
// its end, step bytes at a time (fallocate with FALLOC_FL_KEEP_SIZE, on
// Linux): a write into reserved blocks costs the kernel less than one that
// extends the file (measured by BenchmarkCommitReserve). The file's size
// stays what was written, so nothing that reads or recovers the storage
// sees the reservation; Close gives back what was reserved past the end.
// After a crash up to step bytes stay reserved past the end until the
// next open (which cuts the data file to its committed size). A file
// system that cannot reserve, or a reservation that fails (no room),
// turns it off. 0 turns it off.
func (s *FileStorage) SetReserve(step int64) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.reserveStep = max(step, 0)
}

// reserveFor reserves the data file's blocks up to end plus one step.
func (s *FileStorage) reserveFor(start, end int64) {
	if s.reserveStep == 0 || end <= s.reserved {
		return
	}
	from := max(s.reserved, start)
	to := end + s.reserveStep
	if err := reserve(s.data, from, to-from); err != nil {
		s.reserveStep = 0 // not supported here (or no room: the write will say)
		// A reservation that failed part way may have kept some blocks
		// (ext4 does): Close gives back whatever lies past the end.
		s.reserved = max(s.reserved, to)
		return
	}
	s.reserved = to
}

// unreserveLocked gives back the reserved blocks past the data file's end.
func (s *FileStorage) unreserveLocked() {
	if s.reserved == 0 || s.data == nil {
		return
	}
	// Cutting the file to its own size frees the blocks past its end
	// (a hole punched there would not: ext4 ignores one past the end).
	// Nothing else writes the file meanwhile (the caller holds cmu).
	if st, err := s.data.Stat(); err == nil && st.Size() < s.reserved {
		_ = s.data.Truncate(st.Size()) // best effort: only space
	}
	s.reserved = 0
}

// Sync makes every commit so far durable (what SetNoSync skipped).
func (s *FileStorage) Sync() error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, f := range []*os.File{s.data, s.offsets, s.tree, s.headF} {
		if f == nil {
			continue
		}
		if err := s.syncFile(f); err != nil {
			return fmt.Errorf("sync %s: %w", f.Name(), err)
		}
	}
	s.offsetsSynced = s.committedLength()
	return s.syncDir(s.dir)
}

// committedLength is the head's length (cmu is held, mu is not).
func (s *FileStorage) committedLength() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head.Length
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
	if s.headF == nil {
		// The empty head in slot 0; commits rewrite the slots in place.
		if err := s.writeFileAtomic("head", encodeHeadSlot(headSlot{})); err != nil {
			return fmt.Errorf("init storage: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(s.dir, "head"), os.O_RDWR, 0o644)
		if err != nil {
			return fmt.Errorf("init storage: %w", err)
		}
		s.headF, s.slot, s.seq, s.unverified = f, 0, 0, false
	}
	s.offsetsSynced = 0
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
	return s.readNode(index)
}

// readNode reads and checks the record of node index, wherever the head is.
func (s *FileStorage) readNode(index uint64) (Node, error) {
	var rec [nodeRecord]byte
	if _, err := s.tree.ReadAt(rec[:], int64(index)*nodeRecord); err != nil {
		return Node{}, fmt.Errorf("%w: node %d: %w", ErrCorrupt, index, err)
	}
	if string(rec[44:]) != nodeMagic || binary.LittleEndian.Uint32(rec[40:]) != nodeChecksum(index, rec[:40]) {
		return Node{}, fmt.Errorf("%w: node %d: bad record", ErrCorrupt, index)
	}
	return Node{Index: index, Size: binary.LittleEndian.Uint64(rec[:]), Hash: [32]byte(rec[8:40])}, nil
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
	// Compare before subtracting: a lost offset (lostOffset) must not wrap
	// into a valid range.
	if off > head.ByteLength || n.Size > head.ByteLength-off {
		return nil, fmt.Errorf("%w: block %d at %d+%d beyond %d bytes", ErrCorrupt, index, off, n.Size, head.ByteLength)
	}
	b := make([]byte, n.Size)
	if _, err := s.data.ReadAt(b, int64(off)); err != nil {
		return nil, fmt.Errorf("%w: block %d: %w", ErrCorrupt, index, err)
	}
	return b, nil
}

// ReadBlocks reads blocks [start, end) as stored, without checking them
// against their tree nodes (their sizes come from the offsets file), for a
// reader that authenticates the bytes itself. It stops before a block that
// would take the total over maxBytes, but reads at least one. into gets
// the sizes of the blocks it will read and returns where to read each
// (len(dst[i]) == sizes[i]); it runs with the storage's read lock held
// and must not call the storage. ReadBlocks returns how many blocks it
// read.
func (s *FileStorage) ReadBlocks(_ context.Context, start, end uint64, maxBytes int, into func(sizes []int) ([][]byte, error)) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	off, sizes, err := s.spans(start, end, maxBytes)
	if err != nil {
		return 0, err
	}
	dst, err := into(sizes)
	if err != nil {
		return 0, err
	}
	if len(dst) != len(sizes) {
		return 0, fmt.Errorf("hypercore: read blocks: %d destinations for %d blocks", len(dst), len(sizes))
	}
	for i, d := range dst {
		if len(d) != sizes[i] {
			return 0, fmt.Errorf("hypercore: read blocks: destination of %d bytes for a block of %d", len(d), sizes[i])
		}
		if _, err := s.data.ReadAt(d, int64(off)); err != nil {
			return 0, fmt.Errorf("%w: block %d: %w", ErrCorrupt, start+uint64(i), err)
		}
		off += uint64(len(d))
	}
	return len(sizes), nil
}

// OpenBlocks implements BlockFiler: a descriptor of the data file of its
// own (with its own position), positioned at block start. Committed bytes
// are never overwritten (only what lies past the head is, after a failed
// commit), so the blocks read from it stay what they were when their
// sizes were taken. Descriptors closed by the caller are kept for the next
// ranges (at most spareFiles), and closed with the storage.
func (s *FileStorage) OpenBlocks(_ context.Context, start, end uint64, maxBytes int) (*BlockFile, []int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	off, sizes, err := s.spans(start, end, maxBytes)
	if err != nil {
		return nil, nil, err
	}
	var f *os.File
	s.smu.Lock()
	if n := len(s.spare); n > 0 {
		f, s.spare = s.spare[n-1], s.spare[:n-1]
	}
	s.smu.Unlock()
	if f == nil {
		if f, err = os.Open(filepath.Join(s.dir, "data")); err != nil {
			return nil, nil, fmt.Errorf("open blocks: %w", err)
		}
	}
	if _, err := f.Seek(int64(off), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("open blocks: %w", err)
	}
	return NewBlockFile(f, s.putSpare), sizes, nil
}

// spareFiles is how many data file descriptors a FileStorage keeps for
// OpenBlocks.
const spareFiles = 8

// putSpare keeps f for the next OpenBlocks, unless enough are kept or the
// storage is closed.
func (s *FileStorage) putSpare(f *os.File) {
	s.smu.Lock()
	defer s.smu.Unlock()
	if s.spareClosed || len(s.spare) >= spareFiles {
		f.Close()
		return
	}
	s.spare = append(s.spare, f)
}

// spans returns the data offset of block start and the sizes of the
// blocks from it up to end that fit in maxBytes (at least one), from the
// offsets file. s.mu is held.
func (s *FileStorage) spans(start, end uint64, maxBytes int) (uint64, []int, error) {
	if s.closed {
		return 0, nil, ErrClosed
	}
	head := s.head
	if start >= end || end > head.Length {
		return 0, nil, fmt.Errorf("%w: blocks [%d,%d) of %d", ErrNotFound, start, end, head.Length)
	}
	n := min(end-start, 1<<20)
	// Offsets of the blocks and of the one after (the data's end for
	// the last block).
	need := n + 1
	if start+n == head.Length {
		need = n
	}
	ob := make([]byte, 8*need)
	if _, err := s.offsets.ReadAt(ob, int64(start)*8); err != nil {
		return 0, nil, fmt.Errorf("%w: offsets of blocks [%d,%d): %w", ErrCorrupt, start, start+n, err)
	}
	off := make([]uint64, n+1)
	for i := range need {
		off[i] = binary.LittleEndian.Uint64(ob[8*i:])
	}
	if need == n {
		off[n] = head.ByteLength
	}
	sizes := make([]int, 0, n)
	total := 0
	for i := range n {
		// Checked before the subtraction below (a lost offset is
		// lostOffset, past every byte length).
		if off[i] > off[i+1] || off[i+1] > head.ByteLength {
			return 0, nil, fmt.Errorf("%w: block %d at offsets %d..%d of %d bytes", ErrCorrupt, start+i, off[i], off[i+1], head.ByteLength)
		}
		sz := int(off[i+1] - off[i])
		if len(sizes) > 0 && total+sz > maxBytes {
			break
		}
		sizes = append(sizes, sz)
		total += sz
	}
	return off[0], sizes, nil
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
	sl := headSlot{index: 1 - s.slot, seq: s.seq + 1, head: c.Head, baseLength: old.Length, baseByteLength: old.ByteLength, offsetsSynced: s.offsetsSynced}
	if n := len(encodeHeadSlot(sl)); n > headSlotSize {
		return fmt.Errorf("commit: head of %d bytes (signature of %d), at most %d", n, len(c.Head.Signature), headSlotSize)
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
	s.reserveFor(int64(old.ByteLength), int64(old.ByteLength+size))
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
	// One round of fsyncs for the blocks and the head together (a crash
	// before it ends is caught by the check on open), unless the commit
	// is large: then the blocks are synced first and the head after, so
	// that the check on open never has much to re-read. The offsets file
	// is synced only once offsetsEvery blocks' offsets are unsynced (on
	// open they are rebuilt from the tree): the slot records how far it
	// was synced before the slot was written.
	oneRound := s.noSync || size <= s.oneRoundMax
	syncOffsets := !s.noSync && (!oneRound || c.Head.Length-s.offsetsSynced >= s.offsetsEvery)
	if oneRound {
		sl.flags = slotUnverified
	} else {
		if err := s.syncFiles(s.data, s.offsets, s.tree); err != nil {
			return err
		}
		sl.offsetsSynced = c.Head.Length
	}
	if _, err := s.headF.WriteAt(encodeHeadSlot(sl), s.slotOffset(sl.index)); err != nil {
		return fmt.Errorf("commit: head: %w", err)
	}
	if !s.noSync {
		files := []*os.File{s.headF}
		if oneRound {
			files = append(files, s.data, s.tree)
			if syncOffsets {
				files = append(files, s.offsets)
			}
		}
		if err := s.syncFiles(files...); err != nil {
			return err
		}
	}
	if syncOffsets {
		s.offsetsSynced = c.Head.Length
	}
	s.slot, s.seq, s.unverified = sl.index, sl.seq, oneRound
	h := c.Head
	h.Signature = bytes.Clone(h.Signature)
	s.mu.Lock()
	s.head = h
	s.mu.Unlock()
	return nil
}

// syncFiles fsyncs files at once (the file system can write them out
// together); the first in the calling goroutine.
func (s *FileStorage) syncFiles(files ...*os.File) error {
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.syncFile(f); err != nil {
				errs[i+1] = fmt.Errorf("commit: sync %s: %w", f.Name(), err)
			}
		}()
	}
	if err := s.syncFile(files[0]); err != nil {
		errs[0] = fmt.Errorf("commit: sync %s: %w", files[0].Name(), err)
	}
	wg.Wait()
	return errors.Join(errs...)
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
	for _, f := range []*os.File{s.data, s.offsets, s.tree, s.lock, s.headF} {
		if f != nil {
			f.Close()
		}
	}
	s.smu.Lock()
	s.spareClosed = true
	for _, f := range s.spare {
		f.Close()
	}
	s.spare = nil
	s.smu.Unlock()
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
	var err error
	if (s.unverified || s.offsetsSynced < s.head.Length) && s.failed == nil && !s.noSync && s.headF != nil {
		// Every commit was synced whole: say so in the other slot, with
		// the offsets synced too, so that the next open has nothing to
		// check or rebuild.
		sl := headSlot{index: 1 - s.slot, seq: s.seq + 1, head: s.head, baseLength: s.head.Length, baseByteLength: s.head.ByteLength, offsetsSynced: s.head.Length}
		if err = s.syncFile(s.offsets); err == nil {
			if _, err = s.headF.WriteAt(encodeHeadSlot(sl), s.slotOffset(sl.index)); err == nil {
				err = s.syncFile(s.headF)
			}
		}
		if err != nil {
			err = fmt.Errorf("close storage: mark head synced: %w", err)
		}
	}
	s.unreserveLocked()
	s.closeFiles()
	return err
}
