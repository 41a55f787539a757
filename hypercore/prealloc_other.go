//go:build !linux

package hypercore

import (
	"errors"
	"os"
)

// reserve is not supported here: SetReserve has no effect.
func reserve(*os.File, int64, int64) error { return errors.ErrUnsupported }
