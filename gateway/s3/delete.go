package s3

import (
	"sync"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/store"
)

// maxDeleteKeys is the most keys one DeleteObjects request may name.
const maxDeleteKeys = 1000

// deleteObjects implements DeleteObjects. Keys are deleted concurrently so
// that the store can group their commits.
func (q *request) deleteObjects() error {
	b, err := q.loadBucket(permWrite)
	if err != nil {
		return err
	}
	var body s3xml.Delete
	if err := q.decodeXML(&body); err != nil {
		return err
	}
	if len(body.Objects) > maxDeleteKeys || len(body.Objects) == 0 {
		return s3err.MalformedXML
	}
	type outcome struct {
		res store.DeleteResult
		err error
	}
	results := make([]outcome, len(body.Objects))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, o := range body.Objects {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			switch {
			case o.Key == "":
				results[i].err = s3err.InvalidArgument.With("Object key must not be empty")
			case len(o.Key) > 1024:
				results[i].err = s3err.KeyTooLong
			default:
				results[i].res, results[i].err = q.deleteOne(b, o.Key, o.VersionID)
			}
		}()
	}
	wg.Wait()
	out := s3xml.DeleteResult{Xmlns: s3xml.NS}
	for i, o := range body.Objects {
		r := results[i]
		if r.err != nil {
			e := q.toS3(r.err)
			out.Errors = append(out.Errors, s3xml.DeleteError{Key: o.Key, VersionID: o.VersionID, Code: e.Code, Message: e.Message})
			continue
		}
		if body.Quiet {
			continue
		}
		d := s3xml.Deleted{Key: o.Key, VersionID: o.VersionID}
		if r.res.DeleteMarker {
			d.DeleteMarker = true
			d.DeleteMarkerVersionID = r.res.VersionID
		}
		out.Deleted = append(out.Deleted, d)
	}
	q.writeXML(out)
	return nil
}
