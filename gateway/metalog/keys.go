package metalog

import (
	"path/filepath"

	"github.com/datdot/datdot/gateway/secret"
)

// GenerationKeys returns the first core keys of the metadata log's
// generations 0 to the highest one recorded in dir (the log's directory,
// DATA/metalog) plus ahead: the orders the network store's sweep of
// orphan orders must leave alone (the log's writer gives up the older
// generations itself). Generation numbers are skipped only by crashes, a
// few at a time, so a generous ahead covers those the writer starts while
// the keys are in use.
func GenerationKeys(master []byte, dir string, ahead uint64) (map[[32]byte]bool, error) {
	highest, _, err := readUint(filepath.Join(dir, "highest"))
	if err != nil {
		return nil, err
	}
	out := make(map[[32]byte]bool, highest+ahead+1)
	for g := uint64(0); g <= highest+ahead; g++ {
		k, err := coreKey(master, secret.MetalogVolumeID(master, g), 0)
		if err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, nil
}
