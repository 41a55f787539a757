package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
)

// Relocated blobs (compaction of the network backend's volumes):
//
//	relocs: blob id -> JSON []store.Extent, where the blob's stored bytes
//	        are now (the object records keep the extents they were
//	        written with; readers resolve through this table).
//
// A relocation is one transaction: the table entry, the blob's canonical
// reference (blobrefs, whose extents the delete queue receives when the
// blob is freed) and a journal mark (MarkReloc, so the metadata log ships
// it and a recovered database knows it) change together. The entry is
// dropped in the transaction that frees the blob.
var bRelocs = []byte("relocs")

// MarkReloc names a blob's relocation entry (Key is the blob id).
const MarkReloc byte = 'r'

// BlobState is what the metadata knows of a blob.
type BlobState int

// Blob states.
const (
	// BlobUnknown: neither referenced nor pending: a leftover of a write
	// whose metadata never committed, or a blob already freed.
	BlobUnknown BlobState = iota
	// BlobPending: on the delete queue (written, not yet referenced, or
	// freed and waiting for the reaper).
	BlobPending
	// BlobReferenced: referenced by metadata.
	BlobReferenced
)

// Blob returns the state of blob id and, when referenced, its canonical
// reference (with its current extents).
func (m *Meta) Blob(ctx context.Context, id string) (store.BlobRef, BlobState, error) {
	var ref store.BlobRef
	st := BlobUnknown
	err := m.view(ctx, func(tx *bolt.Tx) error {
		rec, err := getRec(tx, id)
		if err != nil {
			return err
		}
		if rec != nil {
			ref, st = rec.Ref, BlobReferenced
			return nil
		}
		if tx.Bucket(bQueueIdx).Get([]byte(id)) != nil || tx.Bucket(bDeleting).Get([]byte(id)) != nil {
			st = BlobPending
		}
		return nil
	})
	return ref, st, err
}

// Relocated returns the extents blob id was moved to, if it was.
func (m *Meta) Relocated(ctx context.Context, id string) ([]store.Extent, bool, error) {
	var out []store.Extent
	found := false
	err := m.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bRelocs)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		return decode(v, &out, "relocation", []byte(id))
	})
	return out, found, err
}

// Move is one blob's relocation: its bytes now sit at To and no longer at
// From (the extents it had when the move was decided).
type Move struct {
	ID   string
	From []store.Extent
	To   []store.Extent
}

// Relocate records moves in one transaction and returns the ids it
// applied. A move whose blob is no longer referenced, or whose extents
// are no longer From (moved again meanwhile), is skipped: the copy at To
// is then unreferenced dead space.
func (m *Meta) Relocate(ctx context.Context, moves []Move) (applied []string, err error) {
	err = m.update(ctx, func(tx *bolt.Tx) error {
		applied = nil
		rb, err := tx.CreateBucketIfNotExists(bRelocs)
		if err != nil {
			return err
		}
		for _, mv := range moves {
			rec, err := getRec(tx, mv.ID)
			if err != nil {
				return err
			}
			if rec == nil || !sameExtents(rec.Ref.Extents, mv.From) || extentsLen(mv.To) != extentsLen(mv.From) {
				continue
			}
			rec.Ref.Extents = mv.To
			if err := putJSON(tx.Bucket(bBlobRefs), []byte(mv.ID), rec); err != nil {
				return err
			}
			if err := putJSON(rb, []byte(mv.ID), mv.To); err != nil {
				return err
			}
			if err := markTx(tx, MarkReloc, "", mv.ID); err != nil {
				return err
			}
			applied = append(applied, mv.ID)
		}
		return nil
	})
	return applied, err
}

func sameExtents(a, b []store.Extent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func extentsLen(es []store.Extent) int64 {
	var n int64
	for _, e := range es {
		n += e.Length
	}
	return n
}

// dropReloc forgets blob id's relocation (it was freed), journaled.
func dropReloc(tx *bolt.Tx, id string) error {
	rb := tx.Bucket(bRelocs)
	if rb == nil || rb.Get([]byte(id)) == nil {
		return nil
	}
	if err := rb.Delete([]byte(id)); err != nil {
		return err
	}
	return markTx(tx, MarkReloc, "", id)
}

// relocChange is the state of a relocation mark: Record is the entry
// (nil: gone).
func relocChange(tx *bolt.Tx, id string) Change {
	c := Change{Kind: MarkReloc, Key: id}
	if rb := tx.Bucket(bRelocs); rb != nil {
		c.Record = bytes.Clone(rb.Get([]byte(id)))
	}
	return c
}

// snapshotRelocs calls fn with every relocation entry.
func snapshotRelocs(tx *bolt.Tx, fn func(Change) error) error {
	rb := tx.Bucket(bRelocs)
	if rb == nil {
		return nil
	}
	return rb.ForEach(func(k, v []byte) error {
		return fn(Change{Kind: MarkReloc, Key: string(k), Record: bytes.Clone(v)})
	})
}

// applyReloc writes a relocation change during a rebuild.
func applyReloc(tx *bolt.Tx, c Change) error {
	rb, err := tx.CreateBucketIfNotExists(bRelocs)
	if err != nil {
		return err
	}
	if c.Record == nil {
		return rb.Delete([]byte(c.Key))
	}
	var es []store.Extent
	if err := json.Unmarshal(c.Record, &es); err != nil {
		return fmt.Errorf("relocation of %q: %w", c.Key, err)
	}
	return rb.Put([]byte(c.Key), c.Record)
}

// relocateCounts gives rebuilt reference counts the relocated extents and
// drops relocations of blobs nothing references.
func relocateCounts(tx *bolt.Tx, counts map[string]*blobRec) error {
	rb := tx.Bucket(bRelocs)
	if rb == nil {
		return nil
	}
	var stale [][]byte
	err := rb.ForEach(func(k, v []byte) error {
		rec := counts[string(k)]
		if rec == nil {
			stale = append(stale, bytes.Clone(k))
			return nil
		}
		return decode(v, &rec.Ref.Extents, "relocation", k)
	})
	if err != nil {
		return err
	}
	for _, k := range stale {
		if err := rb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
