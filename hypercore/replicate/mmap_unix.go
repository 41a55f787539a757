//go:build unix

package replicate

import (
	"os"
	"syscall"
)

// mapFile maps the first n bytes of f read-only, so a large core waits in
// the page cache rather than on the heap until it is committed.
func mapFile(f *os.File, n int64) ([]byte, func() error, error) {
	if n == 0 {
		return nil, func() error { return nil }, nil
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(n), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return syscall.Munmap(b) }, nil
}
