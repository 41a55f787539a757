package keeper_test

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"cosmossdk.io/math"

	storetypes "github.com/cosmos/cosmos-sdk/store/v2/types"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// addHosters writes n active hosters straight into the store (the same
// records MsgRegisterHoster writes, without n bank calls): 16 regions,
// prices 1..100, stakes between the minimum and twice the weight cap.
func addHosters(b *testing.B, f *fixture, n int) {
	b.Helper()
	for i := 0; i < n; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("bench-hoster-%d", i)))
		addr := sdk.AccAddress(sum[:20])
		h := types.Hoster{
			Address: addr.String(), Stake: math.NewInt(1_000_000 + int64(i%8)*1_000_000), Capacity: 1 << 42,
			Endpoint: "https://h.example", Region: fmt.Sprintf("region-%d", i%16),
			PricePerGibEpoch: math.NewInt(int64(1 + i%100)), Status: types.HOSTER_STATUS_ACTIVE, ActiveIndex: uint64(i),
		}
		if err := f.k.Hosters.Set(f.ctx, addr, h); err != nil {
			b.Fatal(err)
		}
		if err := f.k.ActiveIndex.Set(f.ctx, uint64(i), addr); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.k.ActiveCount.Set(f.ctx, uint64(n)); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPlaceOrder places a 3-replica order for one 1 MiB core (signature
// check, escrow, assignment, writes) with 10, 1,000 and 100,000 registered
// hosters. maxPrice 100 makes every hoster eligible; maxPrice 50 half of
// them. gas/order is the store gas of one order: a count of store reads and
// writes that does not depend on the machine.
func BenchmarkPlaceOrder(b *testing.B) {
	for _, maxPrice := range []int64{100, 50} {
		for _, n := range []int{10, 1_000, 100_000} {
			b.Run(fmt.Sprintf("maxprice=%d/hosters=%d", maxPrice, n), func(b *testing.B) {
				f := newFixture(b)
				addHosters(b, f, n)
				c := newWriter("bench").core(b, 256, 1<<20)
				msg := f.placeMsg("alice", c, 3, maxPrice, 10)
				var gas uint64
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					f.setHeight(int64(i + 2))
					f.ctx = f.ctx.WithGasMeter(storetypes.NewInfiniteGasMeter())
					res, err := f.msg.PlaceOrder(f.ctx, msg)
					if err != nil {
						b.Fatal(err)
					}
					if res.Status != types.ORDER_STATUS_ASSIGNED {
						b.Fatalf("order %d not assigned", res.OrderId)
					}
					gas += f.ctx.GasMeter().GasConsumed()
				}
				b.ReportMetric(float64(gas)/float64(b.N), "gas/order")
			})
		}
	}
}
