package duty

import (
	"testing"

	"github.com/stretchr/testify/require"

	attesttypes "github.com/datdot/datdot/x/attest/types"
)

// TestSplitAnswers: answers go out in order, in batches bounded by the
// answer count and the proof bytes; an answer over the byte bound goes
// alone, none is lost or repeated.
func TestSplitAnswers(t *testing.T) {
	ans := func(id uint64, sizes ...int) attesttypes.ChallengeAnswer {
		a := attesttypes.ChallengeAnswer{ChallengeId: id}
		for _, n := range sizes {
			a.Proofs = append(a.Proofs, make([]byte, n))
		}
		return a
	}
	ids := func(bs [][]attesttypes.ChallengeAnswer) [][]uint64 {
		var out [][]uint64
		for _, b := range bs {
			var x []uint64
			for _, a := range b {
				x = append(x, a.ChallengeId)
			}
			out = append(out, x)
		}
		return out
	}
	require.Empty(t, splitAnswers(nil, 10, 100))
	in := []attesttypes.ChallengeAnswer{ans(1, 30, 30), ans(2, 40), ans(3, 50), ans(4, 250), ans(5, 10), ans(6, 10), ans(7, 10)}
	require.Equal(t, [][]uint64{{1, 2}, {3}, {4}, {5, 6, 7}}, ids(splitAnswers(in, 10, 100)))
	require.Equal(t, [][]uint64{{1, 2}, {3}, {4}, {5, 6}, {7}}, ids(splitAnswers(in, 2, 100)))
	require.Equal(t, [][]uint64{{1}, {2}, {3}, {4}, {5}, {6}, {7}}, ids(splitAnswers(in, 1, 1000)))
}
