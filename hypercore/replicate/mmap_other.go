//go:build !unix

package replicate

import (
	"io"
	"os"
)

// mapFile reads the first n bytes of f into memory.
func mapFile(f *os.File, n int64) ([]byte, func() error, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, n), b); err != nil {
		return nil, nil, err
	}
	return b, func() error { return nil }, nil
}
