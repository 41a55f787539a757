package s3

import (
	"strconv"
	"strings"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/store"
)

// getObjectAttributes implements GetObjectAttributes.
func (q *request) getObjectAttributes() error {
	b, err := q.loadBucket("")
	if err != nil {
		return err
	}
	obj, err := q.lookupObject(b, q.key, q.versionID())
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, v := range q.r.Header.Values("x-amz-object-attributes") {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				want[a] = true
			}
		}
	}
	if len(want) == 0 {
		return s3err.InvalidArgument.With("Invalid attribute name specified.")
	}
	h := q.w.Header()
	h.Set("Last-Modified", httpDate(obj.Modified))
	if b.Versioning != store.VersioningOff {
		h.Set("x-amz-version-id", obj.VersionID)
	}
	res := s3xml.GetObjectAttributesResponse{Xmlns: s3xml.NS}
	if want["ETag"] {
		res.ETag = obj.ETag
	}
	if want["StorageClass"] {
		res.StorageClass = "STANDARD"
	}
	if want["ObjectSize"] {
		size := obj.Size
		res.ObjectSize = &size
	}
	if want["Checksum"] && len(obj.Checksums) > 0 {
		res.Checksum = &s3xml.Checksum{Checksums: s3xml.ChecksumsFrom(obj.Checksums), ChecksumType: obj.ChecksumType}
	}
	if want["ObjectParts"] && obj.Multipart {
		max := 1000
		if v := q.r.Header.Get("x-amz-max-parts"); v != "" {
			if max, err = strconv.Atoi(v); err != nil || max < 0 {
				return s3err.InvalidArgument.With("Invalid max parts")
			}
		}
		marker := 0
		if v := q.r.Header.Get("x-amz-part-number-marker"); v != "" {
			if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
				return s3err.InvalidArgument.With("Invalid part number marker")
			}
		}
		total := obj.NumParts()
		parts := &s3xml.ObjectAttributeParts{TotalPartsCount: total, PartNumberMarker: marker, MaxParts: max}
		// Only the parts of this page are read.
		if marker < total && max > 0 {
			if err := q.loadParts(&obj, store.PartsQuery{From: marker, To: min(marker+max, total)}); err != nil {
				return err
			}
			for i, p := range obj.Parts {
				n := obj.PartsFrom + i + 1
				parts.Parts = append(parts.Parts, s3xml.AttributesPart{PartNumber: n, Size: p.Size, Checksums: s3xml.ChecksumsFrom(p.Checksums)})
				parts.NextPartNumberMarker = n
			}
		}
		parts.IsTruncated = marker+max < total
		// botocore reads TotalPartsCount from the PartsCount element.
		parts.PartsCount = total
		res.ObjectParts = parts
	}
	q.writeXML(res)
	return nil
}
