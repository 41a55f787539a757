package local

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
)

// Inline blobs (see Blobs.InlineMax):
//
//	blobdata: blob id -> the blob's bytes
//
// The bytes are put by the commit that first references the blob
// (addRefs) and deleted by the reaper once the blob is freed, like a
// file.
var bInline = []byte("blobdata")

// putInline stores the bytes of a new inline blob.
func putInline(tx *bolt.Tx, ref store.BlobRef) error {
	if ref.Data == nil {
		return fmt.Errorf("local: inline blob %s: %w", ref.ID, store.ErrNoSuchBlob)
	}
	want := ref.Size
	if ref.Stored > 0 {
		want = ref.Stored // encrypted: the stored bytes are longer
	}
	if int64(len(ref.Data)) != want {
		return fmt.Errorf("local: inline blob %s has %d bytes, its reference says %d", ref.ID, len(ref.Data), want)
	}
	return tx.Bucket(bInline).Put([]byte(ref.ID), ref.Data)
}

// InlineData implements InlineStore.
func (m *Meta) InlineData(ctx context.Context, id string) (data []byte, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bInline).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("local: inline blob %s is missing: %w", id, store.ErrDataShort)
		}
		data = bytes.Clone(v)
		return nil
	})
	return data, err
}

// DeleteInline implements InlineStore: it deletes the bytes of inline
// blobs that no metadata references.
func (m *Meta) DeleteInline(ctx context.Context, ids []string) error {
	return m.batch(ctx, func(tx *bolt.Tx) error {
		for _, id := range ids {
			if tx.Bucket(bBlobRefs).Get([]byte(id)) != nil {
				continue // referenced again (never for a freed blob; kept to be safe)
			}
			if err := tx.Bucket(bInline).Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}
