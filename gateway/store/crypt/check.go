package crypt

import (
	"context"

	"github.com/datdot/datdot/gateway/store"
)

// CheckBlob implements store.BlobChecker when the inner store does: it
// asks about the stored (sealed) bytes of the blob.
func (b *Blobs) CheckBlob(ctx context.Context, ref store.BlobRef) error {
	bc, ok := b.Inner.(store.BlobChecker)
	if !ok {
		return nil
	}
	if ref.Crypt == nil {
		return bc.CheckBlob(ctx, ref)
	}
	return bc.CheckBlob(ctx, innerRef(ref))
}
