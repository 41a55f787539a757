package server_test

import (
	"encoding/hex"
	"io"
)

var hexEncode = hex.EncodeToString

func ioPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }

func keyHex(k [32]byte) string { return hexEncode(k[:]) }
