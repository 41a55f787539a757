//go:build !unix

package hypercore

import "os"

// lockDir opens the lock file; other systems get no cross-process lock.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}
