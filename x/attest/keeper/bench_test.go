package keeper_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	storagetypes "github.com/datdot/datdot/x/storage/types"

	"github.com/datdot/datdot/x/attest/types"
)

// BenchmarkEndBlock measures x/attest's EndBlock (sampling and issuing
// challenges_per_block challenges, settling due deadlines) with 1k to 1M
// live assignments behind the storage keeper: the work must not grow with
// the number of assignments.
func BenchmarkEndBlock(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("assignments=%d", n), func(b *testing.B) {
			f := newFixture(b)
			h := addr("hoster")
			_, c := f.newCore("core", 64, 64)
			f.addOrder(1, addr("owner"), c, h)
			proto := f.st.slots[0]
			f.st.slots = make([]storagetypes.Assignment, n)
			for i := range f.st.slots {
				a := proto
				a.Replica = uint32(i) // distinct slots of one order
				f.st.slots[i] = a
			}
			f.st.index = make(map[[3]uint64]int, n)
			for i, a := range f.st.slots {
				f.st.index[[3]uint64{a.OrderId, uint64(a.CoreIndex), uint64(a.Replica)}] = i
			}
			f.setParams(func(p *types.Params) { p.ResponseBlocks = 10 })
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.setHeight(int64(i + 2))
				require.NoError(b, f.k.EndBlocker(f.ctx))
			}
		})
	}
}
