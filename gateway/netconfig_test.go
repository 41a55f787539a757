package gateway

import (
	"io"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/config"
	"github.com/datdot/datdot/gateway/store/network"
)

// TestNetworkConfigPutMemory: --put.mem-bytes, --put.mem-budget and
// --put.push-mem reach the network store, and 0 means no memory there (not the store's own
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
	n := networkConfig(parse("--put.mem-bytes", "1048576", "--put.mem-budget", "8388608", "--put.push-mem", "4194304"), nil, nil, nil)
	if n.BlobMemBytes != 1<<20 || n.MemBudgetBytes != 8<<20 || n.PushMemBytes != 4<<20 {
		t.Errorf("flags: BlobMemBytes %d MemBudgetBytes %d PushMemBytes %d, want %d %d %d", n.BlobMemBytes, n.MemBudgetBytes, n.PushMemBytes, 1<<20, 8<<20, 4<<20)
	}
	n = networkConfig(parse("--put.mem-bytes", "0", "--put.mem-budget", "0", "--put.push-mem", "0"), nil, nil, nil)
	if n.BlobMemBytes >= 0 || n.MemBudgetBytes >= 0 || n.PushMemBytes >= 0 {
		t.Errorf("0: BlobMemBytes %d MemBudgetBytes %d PushMemBytes %d, want negative (no memory)", n.BlobMemBytes, n.MemBudgetBytes, n.PushMemBytes)
	}
	n = networkConfig(parse(), nil, nil, nil)
	if n.BlobMemBytes != 32<<20 || n.MemBudgetBytes != 256<<20 || n.PushMemBytes != network.DefaultPushMemBytes {
		t.Errorf("defaults: BlobMemBytes %d MemBudgetBytes %d PushMemBytes %d", n.BlobMemBytes, n.MemBudgetBytes, n.PushMemBytes)
	}
}

// TestNetworkConfigFlushWait: --flush-wait reaches the network store, its
// default is the store's, and 0 means no wait there (not the store's
// default).
func TestNetworkConfigFlushWait(t *testing.T) {
	parse := func(args ...string) config.Config {
		t.Helper()
		c, err := config.Parse(append([]string{"--data", t.TempDir()}, args...), func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if n := networkConfig(parse(), nil, nil, nil); n.FlushWait != network.DefaultFlushWait {
		t.Errorf("default: FlushWait %v, want %v", n.FlushWait, network.DefaultFlushWait)
	}
	if n := networkConfig(parse("--flush-wait", "7ms"), nil, nil, nil); n.FlushWait != 7*time.Millisecond {
		t.Errorf("--flush-wait 7ms: FlushWait %v", n.FlushWait)
	}
	if n := networkConfig(parse("--flush-wait", "0"), nil, nil, nil); n.FlushWait >= 0 {
		t.Errorf("--flush-wait 0: FlushWait %v, want negative (no wait)", n.FlushWait)
	}
}
