package secretstream

import (
	"bufio"
	"io"
	"testing"

	"github.com/datdot/datdot/hypercore/noise"
)

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

func newTestInitiator(t *testing.T) *noise.Handshake {
	hs, err := noise.New(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}
