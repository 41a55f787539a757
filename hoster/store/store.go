// Package store keeps a hoster's data: one hypercore FileStorage per core
// under DIR/cores/<key hex>/ (each commit fsynced, crash safe) and the
// daemon's own state in a bbolt database DIR/state.db (every update
// fsynced before it returns): assignments, commit and challenge
// bookkeeping, the last chain height seen, damaged blocks. The
// assignments and the damaged blocks are also kept in memory (loaded on
// Open, changed after each durable update), so that the checks a push or
// a read makes cost no transaction.
//
// A core is held only while some assignment references it: Append refuses
// blocks for a key no assignment names (ErrNotAssigned), and every block
// stored has been checked against the writer's signature
// (hypercore.Core.AppendSigned) before it is acknowledged.
package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/replicate"
)

// Errors of the store; the HTTP server maps them to statuses.
var (
	ErrNotAssigned = errors.New("core is not assigned to this hoster")
	ErrGap         = errors.New("push starts past the blocks held")
	ErrConflict    = errors.New("blocks differ from the blocks held")
	ErrFull        = errors.New("no room")
	ErrUnknownCore = errors.New("core not held")
)

var (
	bucketMeta        = []byte("meta")
	bucketAssignments = []byte("assignments")
	bucketCoreSlots   = []byte("coreslots")
	bucketCommits     = []byte("commits")
	bucketChallenges  = []byte("challenges")
	bucketDamaged     = []byte("damaged")
	keyHeight         = []byte("height")
)

// Slot names one assignment: (order, core index, replica).
type Slot struct {
	OrderID   uint64 `json:"order_id"`
	CoreIndex uint32 `json:"core_index"`
	Replica   uint32 `json:"replica"`
}

func (s Slot) String() string { return fmt.Sprintf("%d/%d/%d", s.OrderID, s.CoreIndex, s.Replica) }

func (s Slot) bytes() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, s.OrderID)
	binary.BigEndian.PutUint32(b[8:], s.CoreIndex)
	binary.BigEndian.PutUint32(b[12:], s.Replica)
	return b
}

func slotFrom(b []byte) Slot {
	return Slot{binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[12:])}
}

// Assignment is what the hoster knows of one of its slots: the core (as
// the chain has it) and how far the hoster committed.
type Assignment struct {
	Slot
	Key       [32]byte `json:"key"`
	Manifest  []byte   `json:"manifest,omitempty"` // empty for a compat core
	Length    uint64   `json:"length"`             // signed length the chain holds for the core
	Fork      uint64   `json:"fork"`
	TreeHash  []byte   `json:"tree_hash"`
	Signature []byte   `json:"signature"`
	ErasureK  uint32   `json:"erasure_k,omitempty"`
	ErasureN  uint32   `json:"erasure_n,omitempty"`
	// CommittedLength is the length the chain records this hoster
	// committed to (0: not yet).
	CommittedLength uint64 `json:"committed_length"`
	// Peers are the replication addresses the order names (a
	// replicated-core order: the core is fetched from there).
	Peers []string `json:"peers,omitempty"`
}

// TmpDir is where the store's temporary files (spools) go.
func (s *Store) TmpDir() (string, error) {
	dir := filepath.Join(s.dir, "tmp")
	return dir, os.MkdirAll(dir, 0o755)
}

// CommitIntent records a MsgCommit the hoster broadcast: until the chain
// shows it (or TimeoutHeight passes without it) no second commit of the
// slot is sent, so a restart never double-commits.
type CommitIntent struct {
	Length        uint64 `json:"length"`
	TxHash        string `json:"tx_hash"`
	TimeoutHeight int64  `json:"timeout_height"`
}

// Store is a hoster's data directory. Safe for concurrent use.
type Store struct {
	dir string
	db  *bolt.DB
	log *slog.Logger

	mu    sync.Mutex
	cores map[[32]byte]*held

	ix index // the assignments, in memory

	// dwmu serialises the updates of the damaged blocks (record, then
	// memory), so the memory never disagrees with the records once an
	// update is done; dmu guards the memory, which readers look up.
	dwmu    sync.Mutex
	dmu     sync.RWMutex
	damaged map[[32]byte][]uint64 // the damaged blocks, sorted, in memory

	used atomic.Uint64 // bytes of core data held
}

type held struct {
	amu  sync.Mutex // serialises appends and repairs of this core
	core *hypercore.Core
}

// Open opens (creating) the data directory dir.
func Open(dir string, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "cores"), 0o755); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "state.db"), 0o600, &bolt.Options{Timeout: 2e9})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketAssignments, bucketCoreSlots, bucketCommits, bucketChallenges, bucketDamaged, bucketChecks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{dir: dir, db: db, log: log, cores: map[[32]byte]*held{}}
	if err := s.ix.load(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := s.loadDamaged(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	used, err := s.scanUsed(context.Background())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.used.Store(used)
	return s, nil
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// Close closes every core and the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for k, h := range s.cores {
		errs = append(errs, h.core.Close())
		delete(s.cores, k)
	}
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}

func (s *Store) coreDir(key [32]byte) string {
	return filepath.Join(s.dir, "cores", hex.EncodeToString(key[:]))
}

// --- assignments ---

// PutAssignment records or updates an assignment (durably). The
// in-memory index is updated once the record is durable.
func (s *Store) PutAssignment(a Assignment) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	// The index holds what a read of the record gives (JSON drops empty
	// slices, for one).
	var rec Assignment
	if err := json.Unmarshal(v, &rec); err != nil {
		return err
	}
	s.ix.wmu.Lock()
	defer s.ix.wmu.Unlock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAssignments)
		if old := b.Get(a.Slot.bytes()); old != nil {
			// The slot named another core: its entry in that core's
			// index goes.
			var prev Assignment
			if err := json.Unmarshal(old, &prev); err != nil {
				return err
			}
			if prev.Key != a.Key {
				if err := tx.Bucket(bucketCoreSlots).Delete(append(prev.Key[:], a.Slot.bytes()...)); err != nil {
					return err
				}
			}
		}
		if err := b.Put(a.Slot.bytes(), v); err != nil {
			return err
		}
		return tx.Bucket(bucketCoreSlots).Put(append(a.Key[:], a.Slot.bytes()...), nil)
	})
	if err != nil {
		return err
	}
	s.ix.put(rec)
	return nil
}

// DeleteAssignment forgets a slot (the hoster no longer holds it).
func (s *Store) DeleteAssignment(slot Slot) error {
	s.ix.wmu.Lock()
	defer s.ix.wmu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAssignments)
		v := b.Get(slot.bytes())
		if v == nil {
			return nil
		}
		var a Assignment
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		if err := tx.Bucket(bucketCoreSlots).Delete(append(a.Key[:], slot.bytes()...)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketCommits).Delete(slot.bytes()); err != nil {
			return err
		}
		return b.Delete(slot.bytes())
	})
	if err != nil {
		return err
	}
	s.ix.delete(slot)
	return nil
}

// Assignment returns the record of slot.
func (s *Store) Assignment(slot Slot) (Assignment, bool, error) {
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	a, ok := s.ix.bySlot[slot]
	return a.clone(), ok, nil
}

// Assignments lists every recorded assignment, in slot order.
func (s *Store) Assignments() ([]Assignment, error) {
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	return s.ix.list(maps.Keys(s.ix.bySlot)), nil
}

// AssignmentsOf lists the assignments of core key, in slot order.
func (s *Store) AssignmentsOf(key [32]byte) ([]Assignment, error) {
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	return s.ix.list(maps.Keys(s.ix.byKey[key])), nil
}

// AssignmentsOfOrder lists the assignments of order id, in slot order.
func (s *Store) AssignmentsOfOrder(id uint64) ([]Assignment, error) {
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	return s.ix.list(maps.Keys(s.ix.byOrder[id])), nil
}

// Assigned reports whether some assignment names core key.
func (s *Store) Assigned(key [32]byte) (bool, error) {
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	return len(s.ix.byKey[key]) > 0, nil
}

// HasOrder reports whether the hoster holds a slot of order id.
func (s *Store) HasOrder(id uint64) (bool, error) {
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	return len(s.ix.byOrder[id]) > 0, nil
}

// index is the assignments of state.db in memory, so that the reads a
// push and the follower make per push cost no database transaction. It
// is loaded on Open and changed by PutAssignment and DeleteAssignment
// after their update is durable (state.db stays the record: a restart
// reloads it from there).
type index struct {
	wmu     sync.Mutex   // serialises writers: database update, then index
	mu      sync.RWMutex // guards the maps
	bySlot  map[Slot]Assignment
	byKey   map[[32]byte]map[Slot]struct{}
	byOrder map[uint64]map[Slot]struct{}
}

// load fills the index from the database.
func (ix *index) load(db *bolt.DB) error {
	ix.bySlot = map[Slot]Assignment{}
	ix.byKey = map[[32]byte]map[Slot]struct{}{}
	ix.byOrder = map[uint64]map[Slot]struct{}{}
	return db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAssignments).ForEach(func(k, v []byte) error {
			var a Assignment
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decoding %s record %x: %w", bucketAssignments, k, err)
			}
			ix.add(a)
			return nil
		})
	})
}

func (ix *index) put(a Assignment) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.remove(a.Slot)
	ix.add(a)
}

func (ix *index) delete(slot Slot) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.remove(slot)
}

// add and remove change the maps; mu is held for writing.
func (ix *index) add(a Assignment) {
	ix.bySlot[a.Slot] = a
	addTo(ix.byKey, a.Key, a.Slot)
	addTo(ix.byOrder, a.OrderID, a.Slot)
}

func (ix *index) remove(slot Slot) {
	a, ok := ix.bySlot[slot]
	if !ok {
		return
	}
	delete(ix.bySlot, slot)
	removeFrom(ix.byKey, a.Key, slot)
	removeFrom(ix.byOrder, a.OrderID, slot)
}

func addTo[K comparable](m map[K]map[Slot]struct{}, k K, slot Slot) {
	set := m[k]
	if set == nil {
		set = map[Slot]struct{}{}
		m[k] = set
	}
	set[slot] = struct{}{}
}

func removeFrom[K comparable](m map[K]map[Slot]struct{}, k K, slot Slot) {
	delete(m[k], slot)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// list returns copies of the records of slots, in slot order (the
// database's key order); mu is held.
func (ix *index) list(slots iter.Seq[Slot]) []Assignment {
	var out []Assignment
	for sl := range slots {
		out = append(out, ix.bySlot[sl].clone())
	}
	slices.SortFunc(out, func(a, b Assignment) int { return compareSlots(a.Slot, b.Slot) })
	return out
}

func compareSlots(a, b Slot) int {
	return cmp.Or(cmp.Compare(a.OrderID, b.OrderID), cmp.Compare(a.CoreIndex, b.CoreIndex), cmp.Compare(a.Replica, b.Replica))
}

// clone returns a copy of a that shares no memory with it.
func (a Assignment) clone() Assignment {
	a.Manifest = bytes.Clone(a.Manifest)
	a.TreeHash = bytes.Clone(a.TreeHash)
	a.Signature = bytes.Clone(a.Signature)
	a.Peers = slices.Clone(a.Peers)
	return a
}

// --- commits, challenges, height ---

// PutCommitIntent records a commit tx before it is broadcast.
func (s *Store) PutCommitIntent(slot Slot, c CommitIntent) error {
	return s.putJSON(bucketCommits, slot.bytes(), c)
}

// CommitIntent returns the pending commit of slot, if any.
func (s *Store) CommitIntent(slot Slot) (CommitIntent, bool, error) {
	var c CommitIntent
	ok, err := s.getJSON(bucketCommits, slot.bytes(), &c)
	return c, ok, err
}

// ClearCommitIntent removes the pending commit of slot.
func (s *Store) ClearCommitIntent(slot Slot) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketCommits).Delete(slot.bytes()) })
}

// Challenge is the hoster's record of one storage challenge.
type Challenge struct {
	ID            uint64   `json:"id"`
	Slot          Slot     `json:"slot"`
	Indices       []uint64 `json:"indices"`
	Length        uint64   `json:"length"`
	Deadline      int64    `json:"deadline"`
	TxHash        string   `json:"tx_hash,omitempty"` // answer broadcast in this tx
	TimeoutHeight int64    `json:"timeout_height,omitempty"`
	Done          bool     `json:"done"` // the chain has the answer (or the deadline passed)
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// PutChallenge records or updates a challenge.
func (s *Store) PutChallenge(c Challenge) error { return s.putJSON(bucketChallenges, u64(c.ID), c) }

// Challenge returns challenge id.
func (s *Store) Challenge(id uint64) (Challenge, bool, error) {
	var c Challenge
	ok, err := s.getJSON(bucketChallenges, u64(id), &c)
	return c, ok, err
}

// Challenges lists recorded challenges (done ones included).
func (s *Store) Challenges() ([]Challenge, error) {
	return listJSON[Challenge](s, bucketChallenges)
}

// DeleteChallenge forgets challenge id.
func (s *Store) DeleteChallenge(id uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketChallenges).Delete(u64(id)) })
}

// Height returns the last chain height the follower finished.
func (s *Store) Height() (int64, error) {
	var h int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyHeight); len(v) == 8 {
			h = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return h, err
}

// SetHeight records the last chain height the follower finished.
func (s *Store) SetHeight(h int64) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyHeight, u64(uint64(h))) })
}

func (s *Store) putJSON(bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, raw) })
}

// listJSON decodes every value of bucket, in key order.
func listJSON[T any](s *Store, bucket []byte) ([]T, error) {
	var out []T
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var x T
			if err := json.Unmarshal(v, &x); err != nil {
				return fmt.Errorf("decoding %s record %x: %w", bucket, k, err)
			}
			out = append(out, x)
			return nil
		})
	})
	return out, err
}

func (s *Store) getJSON(bucket, key []byte, v any) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucket).Get(key)
		if raw == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(raw, v)
	})
	return ok, err
}

// --- damaged blocks ---

// MarkDamaged records that block index of core key failed its check.
// Once recorded, FirstDamaged finds it until the core is rebuilt or
// released.
func (s *Store) MarkDamaged(key [32]byte, index uint64) error {
	s.dwmu.Lock()
	defer s.dwmu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDamaged).Put(append(key[:], u64(index)...), nil)
	})
	if err != nil {
		return err
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	d := s.damaged[key]
	if i, found := slices.BinarySearch(d, index); !found {
		s.damaged[key] = slices.Insert(d, i, index)
	}
	return nil
}

// FirstDamaged returns the first block in [start, end) of core key that
// is recorded damaged, and whether there is one. It reads memory only (a
// map lookup), so a read that does not hash its blocks can still refuse
// the ones known to be bad.
func (s *Store) FirstDamaged(key [32]byte, start, end uint64) (uint64, bool) {
	s.dmu.RLock()
	defer s.dmu.RUnlock()
	d := s.damaged[key]
	if len(d) == 0 {
		return 0, false
	}
	i, _ := slices.BinarySearch(d, start)
	if i < len(d) && d[i] < end {
		return d[i], true
	}
	return 0, false
}

func (s *Store) loadDamaged() error {
	s.damaged = map[[32]byte][]uint64{}
	return s.db.View(func(tx *bolt.Tx) error {
		// Keys are the core key then the index big-endian: in order.
		return tx.Bucket(bucketDamaged).ForEach(func(k, _ []byte) error {
			if len(k) != 40 {
				return fmt.Errorf("damaged block record of %d bytes, want 40", len(k))
			}
			key := [32]byte(k[:32])
			s.damaged[key] = append(s.damaged[key], binary.BigEndian.Uint64(k[32:]))
			return nil
		})
	})
}

// Damaged lists the damaged blocks of core key.
func (s *Store) Damaged(key [32]byte) ([]uint64, error) {
	var out []uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDamaged).Cursor()
		for k, _ := c.Seek(key[:]); k != nil && bytes.HasPrefix(k, key[:]); k, _ = c.Next() {
			out = append(out, binary.BigEndian.Uint64(k[32:]))
		}
		return nil
	})
	return out, err
}

// DamagedCores lists the cores with damaged blocks.
func (s *Store) DamagedCores() ([][32]byte, error) {
	var out [][32]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDamaged).ForEach(func(k, _ []byte) error {
			var key [32]byte
			copy(key[:], k)
			if len(out) == 0 || out[len(out)-1] != key {
				out = append(out, key)
			}
			return nil
		})
	})
	return out, err
}

func (s *Store) clearDamaged(key [32]byte) error {
	s.dwmu.Lock()
	defer s.dwmu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDamaged)
		c := b.Cursor()
		for k, _ := c.Seek(key[:]); k != nil && bytes.HasPrefix(k, key[:]); k, _ = c.Seek(key[:]) {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err // still recorded: still refused
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	delete(s.damaged, key)
	return nil
}

// --- cores ---

// Core returns the open core key, opening it from disk if it is there;
// ErrUnknownCore if the hoster does not hold it.
func (s *Store) Core(ctx context.Context, key [32]byte) (*hypercore.Core, error) {
	h, err := s.heldCore(ctx, key, nil, false)
	if err != nil {
		return nil, err
	}
	return h.core, nil
}

// heldCore returns the held core key; with create it makes an empty
// replica (manifest as the chain has it, nil for compat) when there is none.
func (s *Store) heldCore(ctx context.Context, key [32]byte, manifest []byte, create bool) (*held, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.cores[key]; h != nil {
		return h, nil
	}
	dir := s.coreDir(key)
	if _, err := os.Stat(filepath.Join(dir, "header")); err != nil {
		if !create {
			return nil, fmt.Errorf("core %x: %w", key, ErrUnknownCore)
		}
	}
	st, err := hypercore.OpenFileStorage(dir)
	if err != nil {
		return nil, err
	}
	c, err := hypercore.Open(ctx, st, nil)
	if errors.Is(err, hypercore.ErrNoCore) && create {
		c, err = hypercore.CreateReplica(ctx, st, key, manifest)
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("core %x: %w", key, err)
	}
	h := &held{core: c}
	s.cores[key] = h
	return h, nil
}

// reopen closes and reopens core key after a failed commit (the storage
// recovers on open).
func (s *Store) reopen(ctx context.Context, key [32]byte) {
	s.mu.Lock()
	h := s.cores[key]
	delete(s.cores, key)
	s.mu.Unlock()
	if h != nil {
		h.core.Close()
	}
	if _, err := s.heldCore(ctx, key, nil, false); err != nil {
		s.log.Error("reopen core after failed commit", "core", hex.EncodeToString(key[:]), "err", err)
	}
}

// Limits bounds what the hoster stores: Capacity bytes of core data in all
// (0: no limit) and at least Reserve bytes left free on the disk.
type Limits struct {
	Capacity uint64
	Reserve  uint64
}

// Used returns the bytes of core data held.
func (s *Store) Used() uint64 { return s.used.Load() }

// scanUsed adds up the byte lengths of the cores on disk.
func (s *Store) scanUsed(ctx context.Context) (uint64, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "cores"))
	if err != nil {
		return 0, err
	}
	var used uint64
	for _, e := range entries {
		var key [32]byte
		if raw, err := hex.DecodeString(e.Name()); err != nil || len(raw) != 32 {
			continue
		} else {
			copy(key[:], raw)
		}
		c, err := s.Core(ctx, key)
		if err != nil {
			continue
		}
		used += c.Info().ByteLength
	}
	return used, nil
}

// scanUsedLocked is scanUsed with s.mu held: it counts only open cores
// and reads the heads of the others from disk.
func (s *Store) scanUsedLocked() (uint64, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "cores"))
	if err != nil {
		return 0, err
	}
	var used uint64
	for _, e := range entries {
		raw, err := hex.DecodeString(e.Name())
		if err != nil || len(raw) != 32 {
			continue
		}
		var key [32]byte
		copy(key[:], raw)
		if h := s.cores[key]; h != nil {
			used += h.core.Info().ByteLength
			continue
		}
		st, err := hypercore.OpenFileStorage(filepath.Join(s.dir, "cores", e.Name()))
		if err != nil {
			continue
		}
		if _, head, err := st.Load(context.Background()); err == nil {
			used += head.ByteLength
		}
		st.Close()
	}
	return used, nil
}

// FreeDisk returns the bytes available to the hoster on its data disk.
func (s *Store) FreeDisk() (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// Append stores a push for core key: the blocks must continue (or
// overlap) what the hoster holds and verify against the writer's signature.
// It returns the core's length after the push, which is durable when
// Append returns. Blocks the hoster already holds are checked to be the
// same and not stored again (a repeated push is a no-op).
func (s *Store) Append(ctx context.Context, key [32]byte, p *wire.Push, lim Limits) (uint64, error) {
	h, err := s.assignedCore(ctx, key, p.Manifest)
	if err != nil {
		return 0, err
	}
	h.amu.Lock()
	defer h.amu.Unlock()
	c := h.core
	length := c.Length()
	if p.Start > length {
		return length, fmt.Errorf("%w: push starts at block %d, hoster holds %d", ErrGap, p.Start, length)
	}
	skip := length - p.Start
	for i := uint64(0); i < skip && i < uint64(len(p.Blocks)); i++ {
		n, err := c.Node(ctx, 2*(p.Start+i))
		if err != nil {
			return length, err
		}
		if n.Size != uint64(len(p.Blocks[i])) || hypercore.LeafHash(p.Blocks[i]) != n.Hash {
			return length, fmt.Errorf("%w: block %d", ErrConflict, p.Start+i)
		}
	}
	if skip >= uint64(len(p.Blocks)) {
		return length, nil
	}
	fresh := p.Blocks[skip:]
	var incoming uint64
	for _, b := range fresh {
		incoming += uint64(len(b))
	}
	if lim.Capacity > 0 && s.used.Load()+incoming > lim.Capacity {
		return length, fmt.Errorf("%w: %d bytes more would exceed the capacity of %d bytes", ErrFull, incoming, lim.Capacity)
	}
	if free, err := s.FreeDisk(); err == nil && free < incoming+lim.Reserve {
		return length, fmt.Errorf("%w: %d bytes free on disk, %d needed plus a reserve of %d", ErrFull, free, incoming, lim.Reserve)
	}
	n, err := c.AppendSigned(ctx, p.Fork, p.Signature, fresh...)
	if err != nil {
		if !errors.Is(err, hypercore.ErrBadSignature) && !errors.Is(err, hypercore.ErrKeyMismatch) && !errors.Is(err, hypercore.ErrBadKey) && !errors.Is(err, hypercore.ErrUnsupported) {
			// A storage failure: the core refuses commits until reopened.
			s.reopen(ctx, key)
			if errors.Is(err, syscall.ENOSPC) {
				return length, fmt.Errorf("%w: disk full: %w", ErrFull, err)
			}
		}
		return length, err
	}
	s.used.Add(incoming)
	return n, nil
}

// assignedCore returns core key for an append, making the replica if
// the hoster holds none (with the manifest the chain has for it, or
// pushed, a manifest whose hash is the key); ErrNotAssigned if no
// assignment names it. An open core costs a look-up in the in-memory
// index, not a database transaction.
func (s *Store) assignedCore(ctx context.Context, key [32]byte, pushed []byte) (*held, error) {
	s.mu.Lock()
	h := s.cores[key]
	s.mu.Unlock()
	if h != nil {
		ok, err := s.Assigned(key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("core %x: %w", key, ErrNotAssigned)
		}
		return h, nil
	}
	as, err := s.AssignmentsOf(key)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("core %x: %w", key, ErrNotAssigned)
	}
	manifest := as[0].Manifest
	if len(manifest) == 0 && len(pushed) > 0 && hypercore.ManifestKey(pushed) == key {
		manifest = pushed
	}
	return s.heldCore(ctx, key, manifest, true)
}

// Release deletes core key from disk if no assignment names it any more.
func (s *Store) Release(key [32]byte) error {
	ok, err := s.Assigned(key)
	if err != nil || ok {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.cores[key]; h != nil {
		h.amu.Lock()
		h.core.Close()
		h.amu.Unlock()
		delete(s.cores, key)
	}
	dir := s.coreDir(key)
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := s.clearDamaged(key); err != nil {
		return err
	}
	used, err := s.scanUsedLocked()
	if err == nil {
		s.used.Store(used)
	}
	return fsyncDir(filepath.Dir(dir))
}

// Held returns the length of core key held, 0 if none.
func (s *Store) Held(ctx context.Context, key [32]byte) uint64 {
	c, err := s.Core(ctx, key)
	if err != nil {
		return 0
	}
	return c.Length()
}

// AppendVerified is Append for blocks the hoster fetched itself (a repair
// or a sync from another holder): the same checks, any number of blocks.
func (s *Store) AppendVerified(ctx context.Context, key [32]byte, p *wire.Push, lim Limits) (uint64, error) {
	return s.Append(ctx, key, p, lim)
}

var bucketChecks = []byte("checks")

// CheckReport is the record of an attestation the hoster sent.
type CheckReport struct {
	TxHash        string `json:"tx_hash"`
	TimeoutHeight int64  `json:"timeout_height"`
}

// PutCheckReport records an attestation before it is broadcast.
func (s *Store) PutCheckReport(id uint64, hash string, timeout int64) error {
	return s.putJSON(bucketChecks, u64(id), CheckReport{TxHash: hash, TimeoutHeight: timeout})
}

// CheckReported reports whether an attestation for check id was sent (one
// report per check: the chain keeps the first).
func (s *Store) CheckReported(id uint64) (bool, error) {
	var r CheckReport
	return s.getJSON(bucketChecks, u64(id), &r)
}

// Replicate fills core key through fetch, a Hypercore replication fetch
// into the open core (hypercore/replicate.FetchInto), with the core's
// append lock held so pushes and repairs wait. manifest is the chain's
// (nil for a compat core) and makes the replica if the hoster holds none.
// fetch must call accept with the peer's signed byte length before it
// downloads anything (replicate.FetchOptions.Accept): accept refuses what
// would exceed the capacity or eat into the disk reserve. After a commit
// failure the core is reopened (its storage recovers on open). It returns
// the core's length afterwards.
func (s *Store) Replicate(ctx context.Context, key [32]byte, manifest []byte, lim Limits,
	fetch func(c *hypercore.Core, accept func(byteLength uint64) error) error) (uint64, error) {
	ok, err := s.Assigned(key)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("core %x: %w", key, ErrNotAssigned)
	}
	h, err := s.heldCore(ctx, key, manifest, true)
	if err != nil {
		return 0, err
	}
	h.amu.Lock()
	defer h.amu.Unlock()
	c := h.core
	before := c.Info().ByteLength
	accept := func(byteLength uint64) error {
		if byteLength <= before {
			return nil
		}
		incoming := byteLength - before
		if lim.Capacity > 0 && s.used.Load()+incoming > lim.Capacity {
			return fmt.Errorf("%w: %d bytes more would exceed the capacity of %d bytes", ErrFull, incoming, lim.Capacity)
		}
		if free, err := s.FreeDisk(); err == nil && free < 2*incoming+lim.Reserve {
			// The blocks wait in a spool before the commit: twice the size.
			return fmt.Errorf("%w: %d bytes free on disk, %d needed plus a reserve of %d", ErrFull, free, 2*incoming, lim.Reserve)
		}
		return nil
	}
	ferr := fetch(c, accept)
	after := c.Info().ByteLength
	if after > before {
		s.used.Add(after - before)
	}
	if ferr != nil {
		if errors.Is(ferr, replicate.ErrCommit) {
			s.reopen(ctx, key)
		}
		return c.Length(), ferr
	}
	return c.Length(), nil
}
