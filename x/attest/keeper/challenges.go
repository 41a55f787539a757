package keeper

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// Storage challenges
//
// Every block samples at most params.challenges_per_block live assignments
// uniformly from x/storage's dense assignment index (two store reads per
// draw, whatever the number of assignments). A draw is skipped when the
// slot has not committed, already has an open challenge, is held by the
// block's proposer, or its committed tree is not the core's current one.
// A challenge names params.indices_per_challenge block indices below the
// committed length; the hoster answers with MsgSubmitProofs until
// deadline_height inclusive. Deadlines are keyed by height, so a block
// reads only the challenges due at it.

func errorsIsNotFound(err error) bool { return errors.Is(err, collections.ErrNotFound) }

// Seed is the randomness of a block: SHA-256 over a domain tag, the
// previous block's hash (stored by the previous EndBlock), the chain id and
// the height. Everyone knows it once the previous block is final, and it is
// the same in simulation and in the real block; the proposer of the
// previous block could grind its hash, which the README discusses.
func Seed(tag, prevHash []byte, chainID string, height int64) [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, part := range [][]byte{tag, prevHash, []byte(chainID)} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	binary.BigEndian.PutUint64(n[:], uint64(height))
	h.Write(n[:])
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// draw returns a number in [0, n) derived from seed and the counters.
// The modulo bias is below n/2^64, negligible for any realistic n.
func draw(seed [32]byte, n uint64, counters ...uint64) uint64 {
	h := sha256.New()
	h.Write(seed[:])
	var b [8]byte
	for _, c := range counters {
		binary.BigEndian.PutUint64(b[:], c)
		h.Write(b[:])
	}
	return binary.BigEndian.Uint64(h.Sum(nil)[:8]) % n
}

// blockSeed is Seed for the block being executed.
func (k Keeper) blockSeed(ctx context.Context, tag []byte) ([32]byte, error) {
	prev, err := k.LastBlockHash.Get(ctx)
	if err != nil && !errorsIsNotFound(err) {
		return [32]byte{}, err
	}
	sctx := sdk.UnwrapSDKContext(ctx)
	return Seed(tag, prev, sctx.ChainID(), sctx.BlockHeight()), nil
}

// proposer returns the account of the block's proposer, nil when unknown.
func (k Keeper) proposer(ctx context.Context) sdk.AccAddress {
	cons := sdk.UnwrapSDKContext(ctx).BlockHeader().ProposerAddress
	if len(cons) == 0 || k.staking == nil {
		return nil
	}
	acc, err := k.staking.ProposerAccount(ctx, cons)
	if err != nil {
		return nil
	}
	return acc
}

// committedTree returns the tree a slot is challenged against: the tree the
// hoster committed to. That is the core's current length and tree hash, or,
// for a slot committed at an earlier length (the core was extended since
// and the hoster has not re-committed yet), that length and the tree hash
// the writer signed for it, which x/storage keeps with the order's known
// lengths (the last 8 signed lengths of each core). ok is false when the
// slot has not committed or its length's tree hash is not known (state
// written before x/storage recorded it, or more than 8 extensions ago).
// The returned core is the order's core with Length, ByteLength and
// TreeHash of the committed tree.
func committedTree(o storagetypes.Order, a storagetypes.Assignment) (core storagetypes.Core, ok bool) {
	if int(a.CoreIndex) >= len(o.Cores) || a.CommittedLength == 0 {
		return core, false
	}
	core = o.Cores[a.CoreIndex]
	if core.Length == a.CommittedLength {
		return core, len(core.TreeHash) == 32
	}
	for _, kl := range o.KnownLengths {
		if kl.CoreIndex == a.CoreIndex && kl.Length == a.CommittedLength && len(kl.TreeHash) == 32 {
			core.Length, core.ByteLength, core.TreeHash = kl.Length, kl.ByteLength, kl.TreeHash
			return core, true
		}
	}
	return core, false
}

// issueChallenges samples and issues this block's challenges.
func (k Keeper) issueChallenges(ctx context.Context, p types.Params) error {
	if p.ChallengesPerBlock == 0 {
		return nil
	}
	n, err := k.storage.NumAssignments(ctx)
	if err != nil || n == 0 {
		return err
	}
	seed, err := k.blockSeed(ctx, types.ChallengeSeedTag)
	if err != nil {
		return err
	}
	proposer := k.proposer(ctx)
	now := blockHeight(ctx)
	for i := uint32(0); i < p.ChallengesPerBlock; i++ {
		a, err := k.storage.AssignmentAt(ctx, draw(seed, n, uint64(i)))
		if err != nil {
			return err
		}
		if proposer != nil && a.Hoster == k.addrString(proposer) {
			continue
		}
		if has, err := k.ChallengesBySlot.Has(ctx, collections.Join(a.OrderId, slotKey(a.CoreIndex, a.Replica))); err != nil || has {
			if err != nil {
				return err
			}
			continue
		}
		o, err := k.storage.GetOrder(ctx, a.OrderId)
		if err != nil {
			return err
		}
		core, ok := committedTree(o, a)
		if !ok {
			continue
		}
		indices := make([]uint64, p.IndicesPerChallenge)
		for j := range indices {
			indices[j] = draw(seed, core.Length, uint64(i), uint64(j)+1)
		}
		if err := k.openChallenge(ctx, types.Challenge{
			OrderId: a.OrderId, CoreIndex: a.CoreIndex, Replica: a.Replica, Hoster: a.Hoster,
			Indices: indices, Length: core.Length, TreeHash: core.TreeHash,
			IssuedHeight: now, DeadlineHeight: now + int64(p.ResponseBlocks),
		}, core.Key); err != nil {
			return err
		}
	}
	return nil
}

// openChallenge assigns an id to c, stores it with its indexes and emits
// EventChallengeIssued.
func (k Keeper) openChallenge(ctx context.Context, c types.Challenge, coreKey []byte) error {
	id, err := k.NextChallengeID.Get(ctx)
	if err != nil {
		return err
	}
	c.Id = id
	if err := k.NextChallengeID.Set(ctx, id+1); err != nil {
		return err
	}
	if err := k.putChallenge(ctx, c); err != nil {
		return err
	}
	return k.emit(ctx, &types.EventChallengeIssued{
		ChallengeId: c.Id, OrderId: c.OrderId, CoreIndex: c.CoreIndex, Replica: c.Replica, Hoster: c.Hoster,
		Indices: c.Indices, Length: c.Length, DeadlineHeight: c.DeadlineHeight, CoreKey: hex.EncodeToString(coreKey),
	})
}

// putChallenge stores c and its four indexes.
func (k Keeper) putChallenge(ctx context.Context, c types.Challenge) error {
	hoster, err := k.parseAddr(c.Hoster, "hoster")
	if err != nil {
		return err
	}
	if err := k.Challenges.Set(ctx, c.Id, c); err != nil {
		return err
	}
	if err := k.ChallengeDeadlines.Set(ctx, collections.Join(c.DeadlineHeight, c.Id)); err != nil {
		return err
	}
	if err := k.ChallengesByHoster.Set(ctx, collections.Join(hoster, c.Id)); err != nil {
		return err
	}
	if err := k.ChallengesByOrder.Set(ctx, collections.Join(c.OrderId, c.Id)); err != nil {
		return err
	}
	return k.ChallengesBySlot.Set(ctx, collections.Join(c.OrderId, slotKey(c.CoreIndex, c.Replica)), c.Id)
}

// closeChallenge removes c and its indexes.
func (k Keeper) closeChallenge(ctx context.Context, c types.Challenge) error {
	hoster, err := k.parseAddr(c.Hoster, "hoster")
	if err != nil {
		return err
	}
	if err := k.Challenges.Remove(ctx, c.Id); err != nil {
		return err
	}
	if err := k.ChallengeDeadlines.Remove(ctx, collections.Join(c.DeadlineHeight, c.Id)); err != nil {
		return err
	}
	if err := k.ChallengesByHoster.Remove(ctx, collections.Join(hoster, c.Id)); err != nil {
		return err
	}
	if err := k.ChallengesByOrder.Remove(ctx, collections.Join(c.OrderId, c.Id)); err != nil {
		return err
	}
	return k.ChallengesBySlot.Remove(ctx, collections.Join(c.OrderId, slotKey(c.CoreIndex, c.Replica)))
}

// slotStillHeld reports whether c's slot is still held by c's hoster at
// c's committed length; when not, the challenge is void.
func (k Keeper) slotStillHeld(ctx context.Context, c types.Challenge) (bool, string, error) {
	a, err := k.storage.GetAssignment(ctx, c.OrderId, c.CoreIndex, c.Replica)
	if errors.Is(err, storagetypes.ErrAssignmentNotFound) {
		return false, "slot ended", nil
	}
	if err != nil {
		return false, "", err
	}
	if a.Hoster != c.Hoster {
		return false, "slot moved to another hoster", nil
	}
	return true, "", nil
}

// CheckAnswer verifies the proofs of one answer against challenge c:
// one decodable proof per challenged index, each of at most maxBytes,
// each a valid block proof of that index at the committed length and tree
// hash. A malformed answer (wrong count, oversized or undecodable proof)
// is an error wrapping ErrMalformedAnswer or ErrProofTooLarge; a
// well-formed answer that does not verify returns (false, reason).
func CheckAnswer(c types.Challenge, proofs [][]byte, maxBytes uint64) (bool, string, error) {
	if len(proofs) != len(c.Indices) {
		return false, "", errorsmod.Wrapf(types.ErrMalformedAnswer, "challenge %d: %d proofs for %d indices", c.Id, len(proofs), len(c.Indices))
	}
	decoded := make([]*hypercore.Proof, len(proofs))
	for i, raw := range proofs {
		if uint64(len(raw)) > maxBytes {
			return false, "", errorsmod.Wrapf(types.ErrProofTooLarge, "challenge %d proof %d: %d bytes, at most %d", c.Id, i, len(raw), maxBytes)
		}
		p, err := hypercore.DecodeProof(raw)
		if err != nil {
			return false, "", errorsmod.Wrapf(types.ErrMalformedAnswer, "challenge %d proof %d: %v", c.Id, i, err)
		}
		decoded[i] = p
	}
	var th [32]byte
	if len(c.TreeHash) != 32 {
		return false, "", fmt.Errorf("challenge %d has a %d-byte tree hash", c.Id, len(c.TreeHash))
	}
	copy(th[:], c.TreeHash)
	for i, p := range decoded {
		if _, err := hypercore.VerifyBlockAt(p, c.Indices[i], c.Length, th); err != nil {
			return false, fmt.Sprintf("invalid proof of block %d: %v", c.Indices[i], err), nil
		}
	}
	return true, "", nil
}

// submitProofs implements MsgSubmitProofs. Every answer is checked for
// form first (challenge open, the signer's, in time, right proof count,
// size and encoding), so a malformed message changes nothing; then each
// answer is verified and its outcome applied.
func (k Keeper) submitProofs(ctx context.Context, msg *types.MsgSubmitProofs) (*types.MsgSubmitProofsResponse, error) {
	hoster, err := k.parseAddr(msg.Hoster, "hoster")
	if err != nil {
		return nil, err
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	if len(msg.Answers) == 0 {
		return nil, types.ErrNoAnswers
	}
	if len(msg.Answers) > int(p.MaxAnswersPerMsg) {
		return nil, errorsmod.Wrapf(types.ErrTooManyAnswers, "%d answers, at most %d", len(msg.Answers), p.MaxAnswersPerMsg)
	}
	sctx := sdk.UnwrapSDKContext(ctx)
	var total uint64
	for _, ans := range msg.Answers {
		for _, pr := range ans.Proofs {
			total += uint64(len(pr))
		}
	}
	sctx.GasMeter().ConsumeGas(total*p.GasPerProofByte, "attest: proof bytes")
	now := sctx.BlockHeight()
	hosterStr := k.addrString(hoster)
	challenges := make([]types.Challenge, len(msg.Answers))
	seen := make(map[uint64]bool, len(msg.Answers))
	for i, ans := range msg.Answers {
		if seen[ans.ChallengeId] {
			return nil, errorsmod.Wrapf(types.ErrDuplicateAnswer, "challenge %d", ans.ChallengeId)
		}
		seen[ans.ChallengeId] = true
		c, err := k.Challenges.Get(ctx, ans.ChallengeId)
		if errorsIsNotFound(err) {
			return nil, errorsmod.Wrapf(types.ErrChallengeNotFound, "challenge %d", ans.ChallengeId)
		}
		if err != nil {
			return nil, err
		}
		if c.Hoster != hosterStr {
			return nil, errorsmod.Wrapf(types.ErrNotYourChallenge, "challenge %d is for %s", c.Id, c.Hoster)
		}
		if now > c.DeadlineHeight {
			return nil, errorsmod.Wrapf(types.ErrChallengeNotFound, "challenge %d: deadline %d passed", c.Id, c.DeadlineHeight)
		}
		if len(ans.Proofs) != len(c.Indices) {
			return nil, errorsmod.Wrapf(types.ErrMalformedAnswer, "challenge %d: %d proofs for %d indices", c.Id, len(ans.Proofs), len(c.Indices))
		}
		for j, raw := range ans.Proofs {
			if uint64(len(raw)) > p.MaxProofBytes {
				return nil, errorsmod.Wrapf(types.ErrProofTooLarge, "challenge %d proof %d: %d bytes, at most %d", c.Id, j, len(raw), p.MaxProofBytes)
			}
		}
		challenges[i] = c
	}
	type outcome struct {
		passed bool
		reason string
	}
	outcomes := make([]outcome, len(msg.Answers))
	for i, ans := range msg.Answers {
		ok, reason, err := CheckAnswer(challenges[i], ans.Proofs, p.MaxProofBytes)
		if err != nil {
			return nil, err // malformed: refuse the whole message before any change
		}
		outcomes[i] = outcome{ok, reason}
	}
	resp := &types.MsgSubmitProofsResponse{Results: make([]types.ChallengeResult, len(msg.Answers))}
	for i, c := range challenges {
		o := outcomes[i]
		if err := k.settleChallenge(ctx, p, c, o.passed, o.reason); err != nil {
			return nil, err
		}
		resp.Results[i] = types.ChallengeResult{ChallengeId: c.Id, Passed: o.passed, Reason: o.reason}
	}
	return resp, nil
}

// settleChallenge closes c with its outcome: a pass is reported to
// x/storage, a failure is a fault; a challenge whose slot ended or moved
// is void.
func (k Keeper) settleChallenge(ctx context.Context, p types.Params, c types.Challenge, passed bool, reason string) error {
	if err := k.closeChallenge(ctx, c); err != nil {
		return err
	}
	held, why, err := k.slotStillHeld(ctx, c)
	if err != nil {
		return err
	}
	if !held {
		return k.emit(ctx, &types.EventChallengeVoided{ChallengeId: c.Id, Hoster: c.Hoster, Reason: why})
	}
	hoster, err := k.parseAddr(c.Hoster, "hoster")
	if err != nil {
		return err
	}
	rec, err := k.record(ctx, hoster)
	if err != nil {
		return err
	}
	if passed {
		if err := k.storage.ReportPass(ctx, c.OrderId, c.CoreIndex, c.Replica); err != nil {
			return err
		}
		// pay follows proof: a slot stopped by an earlier fault earns again
		if err := k.storage.SetAccruing(ctx, c.OrderId, c.CoreIndex, c.Replica, true); err != nil {
			return err
		}
		rec.Passes++
		if err := k.Records.Set(ctx, hoster, rec); err != nil {
			return err
		}
		return k.emit(ctx, &types.EventChallengePassed{
			ChallengeId: c.Id, OrderId: c.OrderId, CoreIndex: c.CoreIndex, Replica: c.Replica, Hoster: c.Hoster,
		})
	}
	if err := k.emit(ctx, &types.EventChallengeFailed{
		ChallengeId: c.Id, OrderId: c.OrderId, CoreIndex: c.CoreIndex, Replica: c.Replica, Hoster: c.Hoster, Reason: reason,
	}); err != nil {
		return err
	}
	return k.fault(ctx, p, c, hoster, &rec, reason)
}

// fault applies the cost of a failed challenge: x/storage records the
// fault and stops the slot's pay until it passes again, slash_fraction of the hoster's stake
// is taken (owner_share to the order's owner, the rest to the attestation
// pool), and after max_faults faults on the slot it moves to another
// hoster.
func (k Keeper) fault(ctx context.Context, p types.Params, c types.Challenge, hoster sdk.AccAddress, rec *types.HosterRecord, reason string) error {
	if err := k.storage.ReportFault(ctx, c.OrderId, c.CoreIndex, c.Replica, reason); err != nil {
		return err
	}
	if err := k.storage.SetAccruing(ctx, c.OrderId, c.CoreIndex, c.Replica, false); err != nil {
		return err
	}
	rec.Faults++
	if p.SlashFraction.IsPositive() {
		amount, err := k.storage.SlashHosterToModule(ctx, hoster, p.SlashFraction, types.ModuleName)
		if err != nil {
			return err
		}
		rec.Slashed = rec.Slashed.Add(amount)
		if err := k.shareSlash(ctx, p, c, amount); err != nil {
			return err
		}
	}
	a, err := k.storage.GetAssignment(ctx, c.OrderId, c.CoreIndex, c.Replica)
	if err != nil {
		return err
	}
	if a.Faults >= uint64(p.MaxFaults) {
		ev := &types.EventSlotRemoved{OrderId: c.OrderId, CoreIndex: c.CoreIndex, Replica: c.Replica, Hoster: c.Hoster, Faults: a.Faults}
		// Replace in a cached context: when no hoster qualifies nothing
		// changes, the slot stays (its pay withheld) and is tried again at
		// its next fault.
		sctx := sdk.UnwrapSDKContext(ctx)
		cache, write := sctx.CacheContext()
		newHoster, err := k.storage.ReplaceAssignment(cache, c.OrderId, c.CoreIndex, c.Replica)
		if err != nil {
			ev.Error = err.Error()
		} else {
			write() // also emits the cached events
			ev.NewHoster = k.addrString(newHoster)
			rec.Removals++
		}
		if err := k.emit(ctx, ev); err != nil {
			return err
		}
	}
	return k.Records.Set(ctx, hoster, *rec)
}

// shareSlash pays owner_share of a slashed amount (now in the module
// account) to the order's owner and adds the rest to the pool. An owner
// that cannot receive coins leaves its share in the pool.
func (k Keeper) shareSlash(ctx context.Context, p types.Params, c types.Challenge, amount math.Int) error {
	if !amount.IsPositive() {
		return nil
	}
	sp, err := k.storage.GetParams(ctx)
	if err != nil {
		return err
	}
	o, err := k.storage.GetOrder(ctx, c.OrderId)
	if err != nil {
		return err
	}
	toOwner := p.OwnerShare.MulInt(amount).TruncateInt()
	if toOwner.IsPositive() {
		owner, err := k.parseAddr(o.Owner, "owner")
		if err != nil || k.bankKeeper.BlockedAddr(owner) {
			toOwner = math.ZeroInt()
		} else if err := k.bankKeeper.SendCoinsFromModuleToAccount(ctx, types.ModuleName, owner, sdk.NewCoins(sdk.NewCoin(sp.Denom, toOwner))); err != nil {
			return errorsmod.Wrap(err, "paying the owner's share of a slash")
		}
	}
	toPool := amount.Sub(toOwner)
	pool, err := k.pool(ctx)
	if err != nil {
		return err
	}
	if err := k.Pool.Set(ctx, pool.Add(toPool)); err != nil {
		return err
	}
	return k.emit(ctx, &types.EventHosterPenalized{
		Hoster: c.Hoster, ChallengeId: c.Id, Amount: amount.String(),
		ToOwner: toOwner.String(), Owner: o.Owner, ToPool: toPool.String(),
	})
}

func (k Keeper) pool(ctx context.Context) (math.Int, error) {
	v, err := k.Pool.Get(ctx)
	if errorsIsNotFound(err) {
		return math.ZeroInt(), nil
	}
	return v, err
}

// processChallengeDeadlines fails the challenges due at or before now that
// were not answered: at most limit of them per block, the oldest first (the
// rest wait for the next block; answers to them are refused as late).
func (k Keeper) processChallengeDeadlines(ctx context.Context, p types.Params, now int64, limit int) error {
	keys, err := dueKeys(ctx, k.ChallengeDeadlines, now, limit)
	if err != nil {
		return err
	}
	for _, key := range keys {
		c, err := k.Challenges.Get(ctx, key.K2())
		if err != nil {
			return err
		}
		// Each outcome in a cached context: a failure to settle one
		// challenge (it cannot happen with consistent state) must not halt
		// the chain; the challenge is then closed without outcome.
		sctx := sdk.UnwrapSDKContext(ctx)
		cache, write := sctx.CacheContext()
		if err := k.settleChallenge(cache, p, c, false, "missed"); err != nil {
			k.logger.Error("settling a missed challenge", "challenge", c.Id, "err", err)
			if err := k.closeChallenge(ctx, c); err != nil {
				return err
			}
			continue
		}
		write() // also emits the cached events
	}
	return nil
}

// dueKeys returns up to limit keys of a height-ordered index at or before
// now.
func dueKeys[K2 any](ctx context.Context, q collections.KeySet[collections.Pair[int64, K2]], now int64, limit int) ([]collections.Pair[int64, K2], error) {
	rng := new(collections.Range[collections.Pair[int64, K2]]).
		EndExclusive(collections.PairPrefix[int64, K2](now + 1))
	iter, err := q.Iterate(ctx, rng)
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	var out []collections.Pair[int64, K2]
	for ; iter.Valid() && len(out) < limit; iter.Next() {
		key, err := iter.Key()
		if err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	return out, nil
}

// VerifyAnswer is CheckAnswer with no size limit beyond the hard one, for
// tools and tests.
func (k Keeper) VerifyAnswer(c types.Challenge, proofs [][]byte) (bool, string, error) {
	return CheckAnswer(c, proofs, types.MaxProofBytesLimit)
}
