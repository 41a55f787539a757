package gateway

import (
	"io"
	"testing"

	"github.com/datdot/datdot/gateway/config"
)

// TestNetworkConfigPutMemory: --put.mem-bytes and --put.mem-budget reach
// the network store, and 0 means no memory there (not the store's own
// default).
func TestNetworkConfigPutMemory(t *testing.T) {
	parse := func(args ...string) config.Config {
		t.Helper()
		c, err := config.Parse(append([]string{"--data", t.TempDir()}, args...), func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	n := networkConfig(parse("--put.mem-bytes", "1048576", "--put.mem-budget", "8388608"), nil, nil, nil)
	if n.BlobMemBytes != 1<<20 || n.MemBudgetBytes != 8<<20 {
		t.Errorf("flags: BlobMemBytes %d MemBudgetBytes %d, want %d %d", n.BlobMemBytes, n.MemBudgetBytes, 1<<20, 8<<20)
	}
	n = networkConfig(parse("--put.mem-bytes", "0", "--put.mem-budget", "0"), nil, nil, nil)
	if n.BlobMemBytes >= 0 || n.MemBudgetBytes >= 0 {
		t.Errorf("0: BlobMemBytes %d MemBudgetBytes %d, want negative (always spool)", n.BlobMemBytes, n.MemBudgetBytes)
	}
	n = networkConfig(parse(), nil, nil, nil)
	if n.BlobMemBytes != 32<<20 || n.MemBudgetBytes != 256<<20 {
		t.Errorf("defaults: BlobMemBytes %d MemBudgetBytes %d", n.BlobMemBytes, n.MemBudgetBytes)
	}
}
