package s3

import (
	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/store"
)

// pinObject pins the blobs of obj's loaded parts for reading (a blob
// freed while pinned is deleted only after its last reader unpins it) and
// checks that obj is still stored (a commit between the lookup and the pin
// may have freed them): the same version at the same place, whose parts
// never change. It returns the unpin function, or errReplaced.
func (q *request) pinObject(bucket string, obj *store.Object) (func(), error) {
	refs := obj.Blobs()
	q.s.reap.Pins.Pin(refs)
	unpin := func() { q.s.reap.Unpin(q.ctx, refs) }
	if vc, ok := q.s.cfg.Meta.(store.VersionChecker); ok {
		// The same record byte for byte: no need to decode it again.
		if same, err := vc.Unchanged(q.ctx, bucket, obj); err == nil && same {
			return unpin, nil
		}
	}
	cur, err := q.s.cfg.Meta.GetObject(q.ctx, bucket, obj.Key, obj.VersionID)
	if err != nil || cur.Seq != obj.Seq || cur.ETag != obj.ETag || !cur.Modified.Equal(obj.Modified) || cur.NumParts() != obj.NumParts() {
		unpin()
		return nil, errReplaced
	}
	return unpin, nil
}

// errReplaced: the object changed between lookup and pin; look it up again.
var errReplaced = s3err.InternalError.With("The object changed while it was being read; please retry.")

// free hands blobs that a committed metadata change freed (and queued for
// deletion) to the reaper.
func (q *request) free(refs []store.BlobRef) {
	q.s.reap.Release(q.ctx, refs)
}
