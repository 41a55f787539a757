package main

import (
	"slices"
	"testing"

	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// TestPeerOrder: `core fetch` without --peer tries the hosters that
// committed the most first (docs/dat.md), ties in the chain's order, then
// the orders' peers; an address is tried once, and a hoster without a
// replication address is not tried.
func TestPeerOrder(t *testing.T) {
	holders := []storagetypes.CoreHolder{
		{Hoster: "a", CommittedLength: 3, ReplicationAddress: "a:1"},
		{Hoster: "b", CommittedLength: 9, ReplicationAddress: "b:1"},
		{Hoster: "c", CommittedLength: 9, ReplicationAddress: ""},
		{Hoster: "d", CommittedLength: 0, ReplicationAddress: "d:1"},
		{Hoster: "e", CommittedLength: 9, ReplicationAddress: "e:1"},
	}
	got := peerOrder(holders, []string{"peer:1", "a:1", "peer:2", "peer:1"})
	want := []string{"b:1", "e:1", "a:1", "d:1", "peer:1", "peer:2"}
	if !slices.Equal(got, want) {
		t.Fatalf("peers tried in order %v, want %v", got, want)
	}
	if holders[0].Hoster != "a" {
		t.Fatal("peerOrder reordered the caller's slice")
	}
	if got := peerOrder(nil, nil); len(got) != 0 {
		t.Fatalf("no holders, no peers: %v", got)
	}
}
