package onchain

import (
	"bytes"
	"testing"

	"github.com/datdot/datdot/gateway/store/network"
	"github.com/datdot/datdot/volume"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// TestOrderLayout: a volume's layout is its order's erasure k of its n
// cores, whatever layout the caller assumed; an order of another volume
// or one not erasure coded is refused.
func TestOrderLayout(t *testing.T) {
	master := bytes.Repeat([]byte{3}, 32)
	id := []byte("volume-1")
	written, err := network.NewVolumeRef(master, id, volume.Layout{K: 2, M: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The caller knows the id only: any layout gives the same first key.
	asked, err := network.NewVolumeRef(master, id, volume.Layout{K: 4, M: 2})
	if err != nil {
		t.Fatal(err)
	}
	ord := storagetypes.Order{Id: 9, ErasureK: 2, ErasureN: 3}
	for _, k := range written.Keys {
		ord.Cores = append(ord.Cores, storagetypes.Core{Key: k[:]})
	}
	l, err := orderLayout(ord, asked)
	if err != nil || l != (volume.Layout{K: 2, M: 1}) {
		t.Fatalf("layout %+v, %v; want 2+1", l, err)
	}
	other, _ := network.NewVolumeRef(master, []byte("volume-2"), volume.Layout{K: 2, M: 1})
	if _, err := orderLayout(ord, other); err == nil {
		t.Fatal("another volume's order gave a layout")
	}
	repl := ord
	repl.ErasureK, repl.ErasureN = 0, 0
	if _, err := orderLayout(repl, asked); err == nil {
		t.Fatal("a replicated order gave a layout")
	}
}
