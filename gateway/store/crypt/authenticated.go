package crypt

import "github.com/datdot/datdot/gateway/store"

// AuthenticatesReads implements store.ReadAuthenticator: a blob written
// through Blobs (it has a wrapped key) is read back as written or not at
// all. Every segment's tag is checked before its bytes are returned, under
// the blob's own key, with the segment's index as nonce and its index and
// last-ness as additional data: changed, swapped, dropped or truncated
// stored bytes fail. A blob written before encryption was turned on is
// not authenticated.
func (b *Blobs) AuthenticatesReads(ref store.BlobRef) bool {
	return ref.Crypt != nil
}
