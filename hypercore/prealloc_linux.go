package hypercore

import (
	"os"
	"syscall"
)

// fallocKeepSize is fallocate(2)'s FALLOC_FL_KEEP_SIZE (linux/falloc.h).
const fallocKeepSize = 0x1

// reserve allocates disk blocks for [off, off+n) of f without changing its
// size (FALLOC_FL_KEEP_SIZE): later writes there need no block allocation.
func reserve(f *os.File, off, n int64) error {
	return fallocate(f, fallocKeepSize, off, n)
}

func fallocate(f *os.File, mode uint32, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Fallocate(int(fd), mode, off, n)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if ferr != nil {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: ferr}
	}
	return nil
}
