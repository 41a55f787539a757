package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/datdot/datdot/app"
	"github.com/datdot/datdot/hypercore"
	attesttypes "github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// The proofs run: proofCoreBlocks blocks of proofBlockSize bytes in one
// core, placed as -accounts orders of orderReplicas replicas each.
const (
	proofBlockSize  = 64 << 10
	proofCoreBlocks = 16
)

// proofResult is what a proofs run measured.
type proofResult struct {
	orders, slots  int
	txs, failedTxs int
	txBytes        int // bytes of the proof txs broadcast
	answeredProofs int
	passed, failed int // challenges
	proofs         int // proofs in passed challenges
	blocks         int64
	rounds         int
	params         attesttypes.Params
	elapsed        time.Duration
	firstFailure   string
}

func (r proofResult) String() string {
	secs := r.elapsed.Seconds()
	s := fmt.Sprintf("proofs: %d proofs in %d passed challenges (%d failed) committed in %s over %d blocks (%.2f blocks/s) by %d txs of %.1f MB (%d refused or failed) in %d answer rounds on %d slots (challenges_per_block %d, indices %d): %.0f proofs/s committed end to end, %.1f MB/s of proof txs through consensus",
		r.proofs, r.passed, r.failed, r.elapsed.Round(time.Millisecond), r.blocks, float64(r.blocks)/secs, r.txs, float64(r.txBytes)/1e6, r.failedTxs, r.rounds, r.slots,
		r.params.ChallengesPerBlock, r.params.IndicesPerChallenge, float64(r.proofs)/secs, float64(r.txBytes)/1e6/secs)
	if r.firstFailure != "" {
		s += "; first failure: " + r.firstFailure
	}
	return s
}

// runProofs registers hosters, places -accounts orders of one real core
// with 64 KiB blocks, has every hoster commit, then for -duration answers
// every open challenge of its hosters with batched MsgSubmitProofs (proofs
// made from the core with BlockProofAt) and counts the proofs of the
// challenges that passed, from the first answer to the last commit. The
// chain must issue challenges (localnet LOCALNET_CHALLENGES_PER_BLOCK).
func runProofs(ctx context.Context, logger *slog.Logger, cfg config) (proofResult, error) {
	b, enc, closeConn, err := connect(ctx, logger, cfg)
	if err != nil {
		return proofResult{}, err
	}
	defer closeConn()
	funder, err := loadKey(cfg.home, cfg.funder, enc)
	if err != nil {
		return proofResult{}, err
	}
	hosters, err := newHosters(ctx, b, funder)
	if err != nil {
		return proofResult{}, err
	}
	byAddr := map[string]*signer{}
	for _, h := range hosters {
		byAddr[h.addr.String()] = h
	}

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return proofResult{}, err
	}
	hc, err := hypercore.Create(ctx, hypercore.NewMemStorage(), priv, false)
	if err != nil {
		return proofResult{}, err
	}
	defer hc.Close()
	blocks := make([][]byte, proofCoreBlocks)
	for i := range blocks {
		blocks[i] = bytes.Repeat([]byte{byte(i)}, proofBlockSize)
	}
	if _, err := hc.Append(ctx, blocks...); err != nil {
		return proofResult{}, err
	}
	info := hc.Info()
	core := storagetypes.Core{Key: info.Key[:], Manifest: info.Manifest, Length: info.Length, Fork: info.Fork,
		ByteLength: info.ByteLength, TreeHash: info.TreeHash[:], Signature: info.Signature,
		Roots: storagetypes.RootsFromNodes(hc.Roots())}
	proofs := make([][]byte, info.Length)
	for i := range proofs {
		p, err := hc.BlockProofAt(ctx, uint64(i), info.Length)
		if err != nil {
			return proofResult{}, err
		}
		proofs[i] = p.Encode()
	}

	// Orders, then every slot committed by its hoster.
	sq := storagetypes.NewQueryClient(b.conn)
	aq := attesttypes.NewQueryClient(b.conn)
	if err := b.refresh(ctx, funder); err != nil {
		return proofResult{}, err
	}
	res := proofResult{orders: cfg.accounts}
	commits := map[string][]sdk.Msg{}
	// All orders broadcast with consecutive sequences, then waited for.
	var placed []string
	for range cfg.accounts {
		deposit := sdk.NewCoin(app.BondDenom, sdkmath.NewInt(100_000_000))
		tx, err := b.sign(funder, &storagetypes.MsgPlaceOrder{
			Owner: funder.addr.String(), Cores: []storagetypes.Core{core}, Replicas: orderReplicas,
			MaxPrice: sdkmath.NewInt(orderMaxPrice), DurationEpochs: 1000, Deposit: deposit,
		}, 600_000)
		if err != nil {
			return proofResult{}, err
		}
		hash, err := b.broadcast(ctx, tx)
		if err != nil {
			return proofResult{}, fmt.Errorf("place order: %w", err)
		}
		funder.seq++
		placed = append(placed, hash)
	}
	for _, hash := range placed {
		code, log, err := b.waitTx(ctx, hash)
		if err != nil {
			return proofResult{}, err
		}
		if code != 0 {
			return proofResult{}, fmt.Errorf("place order %s: code %d: %s", hash, code, log)
		}
	}
	orders, err := sq.OrdersByOwner(ctx, &storagetypes.QueryOrdersByOwnerRequest{Owner: funder.addr.String(), Pagination: &query.PageRequest{Limit: 10_000}})
	if err != nil {
		return proofResult{}, fmt.Errorf("orders: %w", err)
	}
	for _, o := range orders.Orders {
		or, err := sq.Order(ctx, &storagetypes.QueryOrderRequest{Id: o.Id})
		if err != nil {
			return proofResult{}, err
		}
		for _, a := range or.Assignments {
			if _, ours := byAddr[a.Assignment.Hoster]; ours && a.Assignment.CommittedLength < core.Length {
				commits[a.Assignment.Hoster] = append(commits[a.Assignment.Hoster], &storagetypes.MsgCommit{
					Hoster: a.Assignment.Hoster, OrderId: o.Id, CoreIndex: a.Assignment.CoreIndex, Length: core.Length})
			}
		}
	}
	var hashes []string
	for addr, msgs := range commits {
		h := byAddr[addr]
		for _, m := range msgs {
			tx, err := b.sign(h, m, 300_000)
			if err != nil {
				return proofResult{}, err
			}
			hash, err := b.broadcast(ctx, tx)
			if err != nil {
				return proofResult{}, fmt.Errorf("commit: %w", err)
			}
			h.seq++
			hashes = append(hashes, hash)
			res.slots++
		}
	}
	for _, hash := range hashes {
		code, log, err := b.waitTx(ctx, hash)
		if err != nil {
			return proofResult{}, err
		}
		if code != 0 {
			return proofResult{}, fmt.Errorf("commit %s: code %d: %s", hash, code, log)
		}
	}
	logger.Info("orders placed and committed", "orders", cfg.accounts, "slots", res.slots)

	// Answer every new challenge as soon as it is seen, for -duration,
	// without waiting for earlier answers to commit (a hoster daemon keeps
	// answering while its earlier txs are in the mempool). Outcomes are
	// read from the hosters' x/attest records (passes, faults), not from
	// GetTx, which would make the node re-read every large tx.
	records := func() (passes, faults uint64, err error) {
		for _, h := range hosters {
			r, err := aq.HosterRecord(ctx, &attesttypes.QueryHosterRecordRequest{Hoster: h.addr.String()})
			if err != nil {
				return 0, 0, fmt.Errorf("record: %w", err)
			}
			passes += r.Record.Passes
			faults += r.Record.Faults
		}
		return passes, faults, nil
	}
	p0, f0, err := records()
	if err != nil {
		return proofResult{}, err
	}
	answered := map[uint64]int{} // challenge id -> proofs sent
	var start time.Time
	hashes = hashes[:0]
	h0, err := b.height(ctx)
	if err != nil {
		return proofResult{}, err
	}
	openIDs := func() (map[uint64]attesttypes.Challenge, error) {
		open, err := aq.Challenges(ctx, &attesttypes.QueryChallengesRequest{Pagination: &query.PageRequest{Limit: 100_000}})
		if err != nil {
			return nil, fmt.Errorf("challenges: %w", err)
		}
		out := make(map[uint64]attesttypes.Challenge, len(open.Challenges))
		for _, ch := range open.Challenges {
			out[ch.Id] = ch
		}
		return out, nil
	}
	pr, err := aq.Params(ctx, &attesttypes.QueryParamsRequest{})
	if err != nil {
		return proofResult{}, err
	}
	// At most two blocks' worth of challenges answered and not yet closed:
	// a hoster does not flood the mempool beyond what blocks take.
	maxInFlight := 2 * int(pr.Params.ChallengesPerBlock)
	for start.IsZero() || time.Since(start) < cfg.duration {
		open, err := openIDs()
		if err != nil {
			return proofResult{}, err
		}
		// The newest challenges first; those due within 3 blocks of the
		// newest issue height (the backlog issued while the slots were
		// being committed) are left to be missed: an answer that lands
		// after its deadline would refuse its whole batch.
		var newest int64
		inFlight := 0
		for _, ch := range open {
			newest = max(newest, ch.IssuedHeight)
			if answered[ch.Id] != 0 {
				inFlight++
			}
		}
		fresh := make([]attesttypes.Challenge, 0, len(open))
		for _, ch := range open {
			if answered[ch.Id] == 0 && byAddr[ch.Hoster] != nil && ch.DeadlineHeight > newest+3 {
				fresh = append(fresh, ch)
			}
		}
		sort.Slice(fresh, func(i, j int) bool { return fresh[i].Id > fresh[j].Id })
		if room := maxInFlight - inFlight; len(fresh) > room {
			fresh = fresh[:max(room, 0)]
		}
		perHoster := map[string][]attesttypes.ChallengeAnswer{}
		for _, ch := range fresh {
			answered[ch.Id] = len(ch.Indices)
			ans := attesttypes.ChallengeAnswer{ChallengeId: ch.Id}
			for _, idx := range ch.Indices {
				ans.Proofs = append(ans.Proofs, proofs[idx])
			}
			perHoster[ch.Hoster] = append(perHoster[ch.Hoster], ans)
		}
		sent := false
		roundStart, roundTxs, roundBytes := time.Now(), 0, 0
		if start.IsZero() && len(perHoster) > 0 {
			start = time.Now()
		}
		// Each hoster signs and broadcasts its batches on its own (as
		// separate hoster daemons would): CheckTx waits overlap.
		var mu sync.Mutex
		var wg sync.WaitGroup
		var firstErr error
		for addr, as := range perHoster {
			wg.Add(1)
			go func(h *signer, addr string, as []attesttypes.ChallengeAnswer) {
				defer wg.Done()
				for len(as) > 0 {
					n := min(len(as), cfg.answersPerTx)
					msg := &attesttypes.MsgSubmitProofs{Hoster: addr, Answers: as[:n]}
					as = as[n:]
					// 10 gas per tx byte (ante) + gas_per_proof_byte, and
					// the state writes of each answer
					gas := uint64(300_000) + 12*uint64(msg.Size()) + 150_000*uint64(n)
					tx, err := b.sign(h, msg, gas)
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
					hash, err := b.broadcast(ctx, tx)
					mu.Lock()
					if err != nil {
						res.failedTxs++
						if res.firstFailure == "" {
							res.firstFailure = err.Error()
						}
						// the sequence did not move; the challenges stay open
						for _, a := range msg.Answers {
							delete(answered, a.ChallengeId)
						}
						mu.Unlock()
						continue
					}
					h.seq++
					res.txs++
					res.txBytes += len(tx)
					hashes = append(hashes, hash)
					sent = true
					roundTxs++
					roundBytes += len(tx)
					mu.Unlock()
				}
			}(byAddr[addr], addr, as)
		}
		wg.Wait()
		if firstErr != nil {
			return proofResult{}, firstErr
		}
		if sent {
			res.rounds++
			logger.Info("answer round broadcast", "txs", roundTxs, "MB", float64(roundBytes)/1e6,
				"broadcast", time.Since(roundStart).Round(time.Millisecond), "in_flight_before", inFlight, "since_start", time.Since(start).Round(time.Millisecond))
			continue
		}
		select {
		case <-ctx.Done():
			return proofResult{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Wait until every answered challenge is closed, then count.
	for {
		open, err := openIDs()
		if err != nil {
			return proofResult{}, err
		}
		pending := 0
		for id := range answered {
			if _, ok := open[id]; ok {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return proofResult{}, fmt.Errorf("%d answered challenges still open: %w", pending, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	res.elapsed = time.Since(start)
	h1, err := b.height(ctx)
	if err != nil {
		return proofResult{}, err
	}
	res.blocks = h1 - h0
	p1, f1, err := records()
	if err != nil {
		return proofResult{}, err
	}
	res.passed, res.failed = int(p1-p0), int(f1-f0)
	for _, n := range answered {
		res.answeredProofs += n
	}
	// Every proof tx's result, read after the measurement.
	for _, hash := range hashes {
		r, err := waitTxResponse(ctx, b, hash)
		if err != nil {
			return proofResult{}, err
		}
		if r.Code != 0 {
			res.failedTxs++
			if res.firstFailure == "" {
				res.firstFailure = r.RawLog
			}
		}
	}
	if len(answered) > 0 {
		res.proofs = res.passed * (res.answeredProofs / len(answered))
	}
	res.params = pr.Params
	return res, nil
}
