package local

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Version ids name their position. A version id is 16 hex digits of the
// entry's sequence number followed by 16 random hex digits, so the id alone
// tells where the version sits among its key's versions: a listing resumes
// after a version-id-marker even when that version was deleted between
// pages, and a GET by version id reads one record instead of walking the
// key's versions.
//
// Ids written before this scheme start with 16 hex digits of a UnixNano
// time (>= 2^60 since 2006); a sequence number never comes near 2^60, so
// the two kinds are told apart by that first value.

const seqLimit = 1 << 60

// seqVersionID returns a new version id for the entry with sequence seq.
func seqVersionID(seq uint64) string {
	var buf [8]byte
	if _, err := rand.Read(buf[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return fmt.Sprintf("%016x%s", seq, hex.EncodeToString(buf[:]))
}

// versionSeq returns the sequence number a version id names, if it is of
// the positional kind.
func versionSeq(id string) (uint64, bool) {
	if len(id) != 32 {
		return 0, false
	}
	seq, err := strconv.ParseUint(id[:16], 16, 64)
	if err != nil || seq >= seqLimit || seq == 0 {
		return 0, false
	}
	if _, err := hex.DecodeString(id[16:]); err != nil {
		return 0, false
	}
	return seq, true
}

// isFirstVersion reports whether k is the first (newest) entry of key.
func isFirstVersion(objs *bolt.Bucket, key string, k []byte) bool {
	first, _ := objs.Cursor().Seek(keyPrefix(key))
	return bytes.Equal(first, k)
}

// versionAt reads the version that a positional id names, without walking
// the key's other versions. found is false when the id is positional but
// no such version exists; ok is false when the id is not positional.
func versionAt(objs *bolt.Bucket, key, id string) (e entry, found, ok bool, err error) {
	seq, ok := versionSeq(id)
	if !ok {
		return e, false, false, nil
	}
	k := entryKey(key, seq)
	v := objs.Get(k)
	if v == nil {
		return e, false, true, nil
	}
	if e.obj, err = decodeObject(v, k); err != nil {
		return e, false, true, err
	}
	if e.obj.VersionID != id {
		return e, false, true, nil
	}
	e.k = k
	if !isFirstVersion(objs, key, k) {
		e.i = 1
	}
	return e, true, true, nil
}

// resumeVersions positions c after the version-id marker (after, afterID)
// and returns the first entry to list. A positional id resumes right after
// its place whether or not that version still exists. Another id (a legacy
// id, or "null") is looked up among the key's versions; when it is gone,
// the listing restarts at the key's newest version, repeating entries
// rather than skipping any.
func resumeVersions(c *bolt.Cursor, nulls *bolt.Bucket, after, afterID string) (k, v []byte) {
	var pos []byte
	if seq, ok := versionSeq(afterID); ok {
		pos = entryKey(after, seq)
	} else if afterID == "null" && nulls != nil {
		pos = nulls.Get([]byte(after))
	}
	if pos != nil {
		k, v = c.Seek(pos)
		if bytes.Equal(k, pos) {
			k, v = c.Next()
		}
		return k, v
	}
	pfx := keyPrefix(after)
	for k, v = c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx) && len(k) == len(pfx)+8; k, v = c.Next() {
		var o struct {
			VersionID string `json:"vid"`
		}
		if json.Unmarshal(v, &o) == nil && o.VersionID == afterID {
			return c.Next()
		}
	}
	return c.Seek(pfx)
}
