package metalog

import (
	"bytes"
	"path/filepath"
	"sync"

	"github.com/datdot/datdot/gateway/secret"
)

// GenerationKeys returns the first core keys of the metadata log's
// generations 0 to the highest one recorded in dir (the log's directory,
// DATA/metalog) plus ahead: the orders the network store's sweep of
// orphan orders must leave alone (the log's writer gives up the older
// generations itself). Generation numbers are skipped only by crashes, a
// few at a time, so a generous ahead covers those the writer starts while
// the keys are in use. A caller that asks again and again (each
// compaction pass while a sweep is pending) keeps a SpareKeys instead.
func GenerationKeys(master []byte, dir string, ahead uint64) (map[[32]byte]bool, error) {
	return NewSpareKeys(master, dir, ahead).Keys()
}

// SpareKeys answers GenerationKeys for one log, deriving each
// generation's key once: a key depends only on the master secret and
// the generation number, so a call derives only those of generations
// no earlier call reached (the first call derives highest+ahead+1 of
// them). It is safe for concurrent use.
type SpareKeys struct {
	master []byte
	dir    string
	ahead  uint64

	mu   sync.Mutex
	keys [][32]byte // generation g's at keys[g]
	// derived counts the keys derived (tests).
	derived int
}

// NewSpareKeys returns the GenerationKeys of the log in dir, with margin
// ahead, derived as they are first needed.
func NewSpareKeys(master []byte, dir string, ahead uint64) *SpareKeys {
	return &SpareKeys{master: bytes.Clone(master), dir: dir, ahead: ahead}
}

// Keys returns GenerationKeys(master, dir, ahead) as of now: a new map
// the caller may keep or change.
func (s *SpareKeys) Keys() (map[[32]byte]bool, error) {
	highest, _, err := readUint(filepath.Join(s.dir, "highest"))
	if err != nil {
		return nil, err
	}
	end := highest + s.ahead + 1
	s.mu.Lock()
	defer s.mu.Unlock()
	for g := uint64(len(s.keys)); g < end; g++ {
		k, err := coreKey(s.master, secret.MetalogVolumeID(s.master, g), 0)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, k)
		s.derived++
	}
	out := make(map[[32]byte]bool, end)
	for _, k := range s.keys[:end] {
		out[k] = true
	}
	return out, nil
}
