package keeper_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"testing"
	"time"

	"cosmossdk.io/collections"
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

// BenchmarkEndBlockPendingSpam runs EndBlock with n unassignable pending
// orders of 128 slots each (max price 0), all due, written straight into
// the store and committed, and 20 active hosters; each iteration is one
// block over committed state (benchEndBlocks). gas/block is the store gas of
// one EndBlock: it must not grow with n (the retries are bounded per block),
// and neither should ns/op.
func BenchmarkEndBlockPendingSpam(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("pending=%d", n), func(b *testing.B) {
			f := newFixture(b)
			addHosters(b, f, 20)
			owner := f.user("spammer").String()
			cores := make([]types.Core, 8)
			for j := range cores {
				cores[j] = newWriter(fmt.Sprint("spam", j)).core(b, 1, 1<<30)
			}
			for i := 1; i <= n; i++ {
				o := types.Order{Id: uint64(i), Owner: owner, Cores: cores, Replicas: 16, MaxPrice: math.ZeroInt(),
					DurationEpochs: 1000, StartEpoch: 1, EndEpoch: 1001, Escrow: math.ZeroInt(), Paid: math.ZeroInt(),
					Status: types.ORDER_STATUS_PENDING, CreatedHeight: 1, RetryHeight: 2}
				if err := f.k.Orders.Set(f.ctx, o.Id, o); err != nil {
					b.Fatal(err)
				}
				if err := f.k.PendingQueue.Set(f.ctx, collections.Join3(uint32(7), o.RetryHeight, o.Id)); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.k.NextOrderID.Set(f.ctx, uint64(n+1)); err != nil {
				b.Fatal(err)
			}
			f.setParams(func(p *types.Params) { p.PendingTimeoutBlocks = 1 << 40 })
			benchEndBlocks(b, f)
		})
	}
}

// BenchmarkEndBlockLiveAssignments runs EndBlock with n live assignments
// (with open commit windows and expiries far in the future) written straight
// into the store and committed; each iteration is one block over committed
// state (benchEndBlocks). Nothing is due, so EndBlock only finds its queues'
// heads: gas/block must be flat in n, and ns/op grows at most with the IAVL
// tree's depth. Set DATDOT_BENCH_1M=1 to
// include 1,000,000 (slow to set up, ~1 GB of memory; the fixture is
// committed every 50,000 assignments).
func BenchmarkEndBlockLiveAssignments(b *testing.B) {
	sizes := []int{1_000, 10_000, 100_000}
	if os.Getenv("DATDOT_BENCH_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("assignments=%d", n), func(b *testing.B) {
			f := newFixture(b)
			addHosters(b, f, 20)
			hoster, _ := f.k.ActiveIndex.Get(f.ctx, 0)
			h, _ := f.k.Hosters.Get(f.ctx, hoster)
			for i := 0; i < n; i++ {
				id := uint64(i/16 + 1)
				slot := types.SlotKey(0, uint32(i%16))
				a := types.Assignment{OrderId: id, Replica: uint32(i % 16), Hoster: h.Address, PricePerGibEpoch: math.OneInt(),
					Paid: math.ZeroInt(), Index: uint64(i), CommitDeadline: 1 << 40}
				key := collections.Join(id, slot)
				if err := f.k.Assignments.Set(f.ctx, key, a); err != nil {
					b.Fatal(err)
				}
				if err := f.k.AssignmentIndex.Set(f.ctx, uint64(i), key); err != nil {
					b.Fatal(err)
				}
				if err := f.k.CommitQueue.Set(f.ctx, collections.Join(a.CommitDeadline, key)); err != nil {
					b.Fatal(err)
				}
				if i%16 == 0 {
					if err := f.k.ExpiryQueue.Set(f.ctx, collections.Join(int64(1<<40), id)); err != nil {
						b.Fatal(err)
					}
				}
				// Commit as the fixture grows, as blocks would: an IAVL
				// tree holding a million unsaved writes is what made the
				// 1M fixture take over 9 minutes.
				if i%50_000 == 49_999 {
					f.cms.Commit()
				}
			}
			if err := f.k.AssignmentCount.Set(f.ctx, uint64(n)); err != nil {
				b.Fatal(err)
			}
			benchEndBlocks(b, f)
		})
	}
}

// benchEndBlocks commits the fixture's state, then runs one block per
// iteration the way a node does: EndBlock in a fresh cache over the
// committed store, the cache written through, the store committed. ns/op is
// EndBlock plus the write of its cache; the commit (IAVL hashing and saving)
// is left out of ns/op and reported as commit-ns/block. gas/block is
// EndBlock's store gas.
//
// Committing matters: IAVL iterates the writes it has not saved yet by
// sorting all of them on every new iterator, so over an uncommitted fixture
// each queue iteration cost time proportional to the whole fixture (at
// 100,000 assignments ~3 s a block) while no real node, which commits every
// block, ever has more than one block's writes unsaved.
func benchEndBlocks(b *testing.B, f *fixture) {
	b.Helper()
	f.cms.Commit()
	var gas uint64
	var commit time.Duration
	start := f.height()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.setHeight(start + int64(i) + 1)
		cache := f.cms.CacheMultiStore()
		ctx := f.ctx.WithMultiStore(cache).WithGasMeter(storetypes.NewInfiniteGasMeter()).
			WithEventManager(sdk.NewEventManager())
		if err := f.k.EndBlocker(ctx); err != nil {
			b.Fatal(err)
		}
		gas += ctx.GasMeter().GasConsumed()
		cache.Write()
		b.StopTimer()
		t0 := time.Now()
		f.cms.Commit()
		commit += time.Since(t0)
		b.StartTimer()
	}
	b.ReportMetric(float64(gas)/float64(b.N), "gas/block")
	b.ReportMetric(float64(commit.Nanoseconds())/float64(b.N), "commit-ns/block")
}
