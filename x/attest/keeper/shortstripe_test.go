package keeper_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
	"github.com/datdot/datdot/x/attest/keeper"
	"github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// A core of a volume with short stripes (docs/volume-format.md, v2:
// blocks of 64 KiB and shorter ones in one core) is checked like any
// other: its byte length comes from its roots, and proofs of its short
// and full blocks verify; a proof of another index or tree does not.
func TestShortStripeCoreProofs(t *testing.T) {
	ctx := context.Background()
	l := volume.Layout{K: 4, M: 2}
	coder, err := volume.NewCoder(l)
	require.NoError(t, err)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	core, err := hypercore.Create(ctx, hypercore.NewMemStorage(), priv, false)
	require.NoError(t, err)
	var want uint64
	for _, used := range []int{int(l.StripeSize()), 20 << 10, 1, int(l.StripeSize()), 4600} {
		data := make([]byte, used)
		rand.Read(data)
		shards, err := coder.EncodeShort(data)
		require.NoError(t, err)
		_, err = core.Append(ctx, shards[5]) // a parity core's block
		require.NoError(t, err)
		want += uint64(len(shards[5]))
	}
	info := core.Info()
	require.Equal(t, want, info.ByteLength)
	require.Less(t, info.ByteLength, 5*uint64(volume.BlockSize))
	c := storagetypes.Core{Key: info.Key[:], Manifest: info.Manifest, Length: info.Length, TreeHash: info.TreeHash[:], Signature: info.Signature,
		Roots: storagetypes.RootsFromNodes(core.Roots())}
	n, err := c.DeriveByteLength()
	require.NoError(t, err)
	require.Equal(t, want, n)

	ch := types.Challenge{Id: 1, Length: info.Length, TreeHash: info.TreeHash[:], Indices: []uint64{0, 1, 2, 3, 4}}
	proofs := make([][]byte, len(ch.Indices))
	for i, idx := range ch.Indices {
		p, err := core.BlockProofAt(ctx, idx, info.Length)
		require.NoError(t, err)
		proofs[i] = p.Encode()
	}
	ok, reason, err := keeper.CheckAnswer(ch, proofs, types.DefaultParams().MaxProofBytes)
	require.NoError(t, err)
	require.True(t, ok, reason)
	// The short block's proof for a full block's index, or against
	// another tree, fails.
	swapped := [][]byte{proofs[0], proofs[2], proofs[1], proofs[3], proofs[4]}
	ok, _, err = keeper.CheckAnswer(ch, swapped, types.DefaultParams().MaxProofBytes)
	require.NoError(t, err)
	require.False(t, ok)
	bad := ch
	bad.TreeHash = bytes.Repeat([]byte{1}, 32)
	ok, _, err = keeper.CheckAnswer(bad, proofs, types.DefaultParams().MaxProofBytes)
	require.NoError(t, err)
	require.False(t, ok)
}
