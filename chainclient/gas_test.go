package chainclient

import (
	"testing"
	"time"

	sdk "github.com/cosmos/cosmos-sdk/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	"github.com/stretchr/testify/require"

	attesttypes "github.com/datdot/datdot/x/attest/types"
)

// TestGasShape: only txs made entirely of listed message types are
// estimated; their key does not depend on message order, their size is
// the messages' and their units are summed.
func TestGasShape(t *testing.T) {
	g := gasModel{units: defaultGasUnits()}
	p := &attesttypes.MsgSubmitProofs{Hoster: "h", Answers: []attesttypes.ChallengeAnswer{{ChallengeId: 1, Proofs: [][]byte{make([]byte, 1000)}}, {ChallengeId: 2}}}
	key, size, units, ok := g.shape([]sdk.Msg{p})
	require.True(t, ok)
	require.Equal(t, sdk.MsgTypeURL(p), key)
	require.Greater(t, size, uint64(1000))
	require.Equal(t, uint64(2), units)
	_, _, _, ok = g.shape([]sdk.Msg{p, &banktypes.MsgSend{}})
	require.False(t, ok, "a bank send is simulated")
	_, _, _, ok = g.shape(nil)
	require.False(t, ok)
	key2, size2, units2, ok := g.shape([]sdk.Msg{p, p})
	require.True(t, ok)
	require.Equal(t, key+","+key, key2)
	require.Equal(t, 2*size, size2)
	require.Equal(t, uint64(4), units2)
}

// TestGasEstimate: an estimate scales the reference's gas by the larger
// of the size and unit ratios, never below the reference (so it bounds
// a + b·size + c·units from above); a reference serves gasRefUses
// estimates and lasts gasRefAge; forget drops one key or all.
func TestGasEstimate(t *testing.T) {
	var g gasModel
	now := time.Unix(1000, 0)
	_, ok := g.estimate("k", 100, 1, now)
	require.False(t, ok)
	g.learn("k", 1000, 2, 50_000, now)
	for _, c := range []struct {
		size, units, want uint64
	}{
		{1000, 2, 50_000},  // the same shape
		{500, 1, 50_000},   // smaller: never below the reference
		{3000, 2, 150_000}, // 3x the bytes
		{1000, 8, 200_000}, // 4x the answers
		{2000, 6, 150_000}, // the larger ratio wins
		{1001, 2, 50_050},  // rounded up
	} {
		got, ok := g.estimate("k", c.size, c.units, now)
		require.True(t, ok)
		require.Equal(t, c.want, got, "size %d units %d", c.size, c.units)
		// The bound holds for any a, b, c >= 0 that fit the reference:
		// a + b·1000 + c·2 = 50000.
		for _, abc := range [][3]float64{{50_000, 0, 0}, {0, 50, 0}, {0, 0, 25_000}, {10_000, 30, 5_000}} {
			real := abc[0] + abc[1]*float64(c.size) + abc[2]*float64(c.units)
			require.GreaterOrEqual(t, float64(got), real-1e-6, "%v at size %d units %d", abc, c.size, c.units)
		}
	}
	// Uses: the reference served 6 estimates; it serves up to gasRefUses.
	for range gasRefUses - 6 {
		_, ok := g.estimate("k", 1000, 2, now)
		require.True(t, ok)
	}
	_, ok = g.estimate("k", 1000, 2, now)
	require.False(t, ok, "used up: simulate again")
	// Age.
	g.learn("k", 1000, 2, 50_000, now)
	_, ok = g.estimate("k", 1000, 2, now.Add(gasRefAge-time.Second))
	require.True(t, ok)
	_, ok = g.estimate("k", 1000, 2, now.Add(gasRefAge))
	require.False(t, ok, "too old: simulate again")
	// Forget.
	g.learn("k", 1000, 2, 50_000, now)
	g.learn("j", 1000, 2, 50_000, now)
	g.forget("k")
	_, ok = g.estimate("k", 1000, 2, now)
	require.False(t, ok)
	_, ok = g.estimate("j", 1000, 2, now)
	require.True(t, ok)
	g.forget("")
	_, ok = g.estimate("j", 1000, 2, now)
	require.False(t, ok)
}
