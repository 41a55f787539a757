package keeper

import (
	"context"
	"encoding/hex"
	"slices"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/attest/types"
)

// Performance checks
//
// At heights that are multiples of check_interval_blocks, at most
// checks_per_interval committed slots are drawn like challenges; for each,
// attestors_per_check distinct active hosters that hold no slot of the
// order are drawn from x/storage's dense active index (a bounded number of
// draws). Each attestor fetches the named blocks from the checked hoster's
// endpoint as any client would, verifies them against the committed tree,
// and reports with MsgSubmitAttestation until the deadline. At the
// deadline, with at least `quorum` reports, the outcome is decided by the
// reports' majority on "ok" and by their medians of latency and throughput
// (so a minority of liars moves neither); the checked hoster's reputation
// moves a tenth of the way toward 1000 (passed) or 0 (failed). Attestors
// that reported get attestor_fee from the pool while it lasts; those that
// did not get nothing and a miss on their record.

// maxDrawsPerAttestor bounds the active-index draws per wanted attestor.
const maxDrawsPerAttestor = 4

func (k Keeper) issueChecks(ctx context.Context, p types.Params) error {
	if p.ChecksPerInterval == 0 {
		return nil
	}
	n, err := k.storage.NumAssignments(ctx)
	if err != nil || n == 0 {
		return err
	}
	active, err := k.storage.NumActiveHosters(ctx)
	if err != nil || active == 0 {
		return err
	}
	seed, err := k.blockSeed(ctx, types.CheckSeedTag)
	if err != nil {
		return err
	}
	now := blockHeight(ctx)
	for i := uint32(0); i < p.ChecksPerInterval; i++ {
		a, err := k.storage.AssignmentAt(ctx, draw(seed, n, uint64(i)))
		if err != nil {
			return err
		}
		o, err := k.storage.GetOrder(ctx, a.OrderId)
		if err != nil {
			return err
		}
		core, ok := committedTree(o, a)
		if !ok {
			continue
		}
		holders := make(map[string]bool)
		for c := uint32(0); c < uint32(len(o.Cores)); c++ {
			for r := uint32(0); r < o.Replicas; r++ {
				if s, err := k.storage.GetAssignment(ctx, o.Id, c, r); err == nil {
					holders[s.Hoster] = true
				}
			}
		}
		var attestors []string
		chosen := make(map[string]bool)
		for d := uint64(0); d < uint64(p.AttestorsPerCheck)*maxDrawsPerAttestor && len(attestors) < int(p.AttestorsPerCheck); d++ {
			addr, err := k.storage.ActiveHosterAt(ctx, draw(seed, active, uint64(i), 1<<32|d))
			if err != nil {
				return err
			}
			s := k.addrString(addr)
			if holders[s] || chosen[s] {
				continue
			}
			chosen[s] = true
			attestors = append(attestors, s)
		}
		if len(attestors) < int(p.Quorum) {
			continue
		}
		checked, err := k.parseAddr(a.Hoster, "hoster")
		if err != nil {
			return err
		}
		h, err := k.storage.GetHoster(ctx, checked)
		if err != nil {
			return err
		}
		indices := make([]uint64, p.IndicesPerChallenge)
		for j := range indices {
			indices[j] = draw(seed, core.Length, uint64(i), uint64(j)+1)
		}
		id, err := k.NextCheckID.Get(ctx)
		if err != nil {
			return err
		}
		if err := k.NextCheckID.Set(ctx, id+1); err != nil {
			return err
		}
		c := types.Check{
			Id: id, OrderId: a.OrderId, CoreIndex: a.CoreIndex, Replica: a.Replica, Hoster: a.Hoster,
			Endpoint: h.Endpoint, CoreKey: core.Key, Indices: indices, Length: core.Length, TreeHash: core.TreeHash,
			Attestors: attestors, IssuedHeight: now, DeadlineHeight: now + int64(p.CheckResponseBlocks),
		}
		if err := k.putCheck(ctx, c); err != nil {
			return err
		}
		if err := k.emit(ctx, &types.EventCheckIssued{
			CheckId: c.Id, OrderId: c.OrderId, CoreIndex: c.CoreIndex, Replica: c.Replica, Hoster: c.Hoster,
			Endpoint: c.Endpoint, Attestors: c.Attestors, DeadlineHeight: c.DeadlineHeight,
			CoreKey: hex.EncodeToString(c.CoreKey), Indices: c.Indices, Length: c.Length,
		}); err != nil {
			return err
		}
	}
	return nil
}

func (k Keeper) putCheck(ctx context.Context, c types.Check) error {
	if err := k.Checks.Set(ctx, c.Id, c); err != nil {
		return err
	}
	if err := k.CheckDeadlines.Set(ctx, collections.Join(c.DeadlineHeight, c.Id)); err != nil {
		return err
	}
	for _, s := range c.Attestors {
		addr, err := k.parseAddr(s, "attestor")
		if err != nil {
			return err
		}
		if err := k.ChecksByAttestor.Set(ctx, collections.Join(addr, c.Id)); err != nil {
			return err
		}
	}
	return nil
}

func (k Keeper) closeCheck(ctx context.Context, c types.Check) error {
	if err := k.Checks.Remove(ctx, c.Id); err != nil {
		return err
	}
	if err := k.CheckDeadlines.Remove(ctx, collections.Join(c.DeadlineHeight, c.Id)); err != nil {
		return err
	}
	for _, s := range c.Attestors {
		addr, err := k.parseAddr(s, "attestor")
		if err != nil {
			return err
		}
		if err := k.ChecksByAttestor.Remove(ctx, collections.Join(addr, c.Id)); err != nil {
			return err
		}
	}
	return nil
}

// submitAttestation implements MsgSubmitAttestation.
func (k Keeper) submitAttestation(ctx context.Context, msg *types.MsgSubmitAttestation) error {
	attestor, err := k.parseAddr(msg.Attestor, "attestor")
	if err != nil {
		return err
	}
	c, err := k.Checks.Get(ctx, msg.CheckId)
	if errorsIsNotFound(err) {
		return errorsmod.Wrapf(types.ErrCheckNotFound, "check %d", msg.CheckId)
	}
	if err != nil {
		return err
	}
	now := blockHeight(ctx)
	if now > c.DeadlineHeight {
		return errorsmod.Wrapf(types.ErrCheckNotFound, "check %d: deadline %d passed", c.Id, c.DeadlineHeight)
	}
	s := k.addrString(attestor)
	if !slices.Contains(c.Attestors, s) {
		return errorsmod.Wrapf(types.ErrNotAttestor, "check %d", c.Id)
	}
	for _, r := range c.Reports {
		if r.Attestor == s {
			return errorsmod.Wrapf(types.ErrAlreadyReported, "check %d", c.Id)
		}
	}
	if msg.Ok && msg.ThroughputBps == 0 {
		return errorsmod.Wrap(types.ErrInvalidAttestation, "an ok report needs a throughput")
	}
	c.Reports = append(c.Reports, types.Attestation{
		Attestor: s, Ok: msg.Ok, LatencyMs: msg.LatencyMs, ThroughputBps: msg.ThroughputBps, Height: now,
	})
	if err := k.Checks.Set(ctx, c.Id, c); err != nil {
		return err
	}
	return k.emit(ctx, &types.EventAttestationSubmitted{
		CheckId: c.Id, Attestor: s, Ok: msg.Ok, LatencyMs: msg.LatencyMs, ThroughputBps: msg.ThroughputBps,
	})
}

// CheckOutcome decides a check from its reports: "inconclusive" below
// quorum; otherwise "passed" when a strict majority reports ok and the
// median latency and throughput are within the params, else "failed".
// Medians are the lower median of the sorted values (a failed report
// counts with latency and throughput as reported), so fewer than half
// of the reporters cannot move them past the honest values.
func CheckOutcome(p types.Params, reports []types.Attestation) (outcome string, latency uint32, throughput uint64) {
	if len(reports) == 0 || len(reports) < int(p.Quorum) {
		return "inconclusive", 0, 0
	}
	oks := 0
	lat := make([]uint32, len(reports))
	thr := make([]uint64, len(reports))
	for i, r := range reports {
		if r.Ok {
			oks++
		}
		lat[i], thr[i] = r.LatencyMs, r.ThroughputBps
	}
	slices.Sort(lat)
	slices.Sort(thr)
	m := (len(reports) - 1) / 2
	// lower median for throughput (pessimistic), upper for latency
	latency, throughput = lat[len(lat)-1-m], thr[m]
	if 2*oks > len(reports) && latency <= p.MaxLatencyMs && throughput >= p.MinThroughputBps {
		return "passed", latency, throughput
	}
	return "failed", latency, throughput
}

// processCheckDeadlines decides the checks due at or before now (at most
// limit per block).
func (k Keeper) processCheckDeadlines(ctx context.Context, p types.Params, now int64, limit int) error {
	keys, err := dueKeys(ctx, k.CheckDeadlines, now, limit)
	if err != nil {
		return err
	}
	for _, key := range keys {
		c, err := k.Checks.Get(ctx, key.K2())
		if err != nil {
			return err
		}
		sctx := sdk.UnwrapSDKContext(ctx)
		cache, write := sctx.CacheContext()
		if err := k.decideCheck(cache, p, c); err != nil {
			k.logger.Error("deciding a performance check", "check", c.Id, "err", err)
			if err := k.closeCheck(ctx, c); err != nil {
				return err
			}
			continue
		}
		write() // also emits the cached events
	}
	return nil
}

func (k Keeper) decideCheck(ctx context.Context, p types.Params, c types.Check) error {
	if err := k.closeCheck(ctx, c); err != nil {
		return err
	}
	outcome, latency, throughput := CheckOutcome(p, c.Reports)
	checked, err := k.parseAddr(c.Hoster, "hoster")
	if err != nil {
		return err
	}
	rec, err := k.record(ctx, checked)
	if err != nil {
		return err
	}
	switch outcome {
	case "passed":
		rec.ChecksPassed++
		rec.Reputation += (types.MaxReputation - rec.Reputation) / 10
	case "failed":
		rec.ChecksFailed++
		rec.Reputation -= rec.Reputation / 10
	}
	if err := k.Records.Set(ctx, checked, rec); err != nil {
		return err
	}
	// The new reputation scales the hoster's pay from this epoch on.
	var payFactor string
	if outcome != "inconclusive" {
		f := p.PayFactor(rec.Reputation)
		if err := k.storage.SetPayFactor(ctx, checked, f); err != nil {
			return err
		}
		payFactor = f.String()
	}
	if err := k.emit(ctx, &types.EventCheckDecided{
		CheckId: c.Id, Hoster: c.Hoster, Outcome: outcome, Reports: uint32(len(c.Reports)),
		MedianLatencyMs: latency, MedianThroughputBps: throughput, Reputation: rec.Reputation,
		PayFactor: payFactor,
	}); err != nil {
		return err
	}
	reported := make(map[string]bool, len(c.Reports))
	for _, r := range c.Reports {
		reported[r.Attestor] = true
	}
	sp, err := k.storage.GetParams(ctx)
	if err != nil {
		return err
	}
	for _, s := range c.Attestors {
		addr, err := k.parseAddr(s, "attestor")
		if err != nil {
			return err
		}
		arec, err := k.record(ctx, addr)
		if err != nil {
			return err
		}
		if !reported[s] {
			arec.AttestationsMissed++
			if err := k.emit(ctx, &types.EventAttestorMissed{CheckId: c.Id, Attestor: s}); err != nil {
				return err
			}
		} else {
			arec.Attestations++
			pool, err := k.pool(ctx)
			if err != nil {
				return err
			}
			fee := p.AttestorFee
			if fee.IsPositive() && pool.GTE(fee) && !k.bankKeeper.BlockedAddr(addr) {
				if err := k.bankKeeper.SendCoinsFromModuleToAccount(ctx, types.ModuleName, addr, sdk.NewCoins(sdk.NewCoin(sp.Denom, fee))); err != nil {
					return errorsmod.Wrap(err, "paying an attestor")
				}
				if err := k.Pool.Set(ctx, pool.Sub(fee)); err != nil {
					return err
				}
				arec.AttestorFees = arec.AttestorFees.Add(fee)
				if err := k.emit(ctx, &types.EventAttestorPaid{CheckId: c.Id, Attestor: s, Amount: fee.String()}); err != nil {
					return err
				}
			}
		}
		if err := k.Records.Set(ctx, addr, arec); err != nil {
			return err
		}
	}
	return nil
}
