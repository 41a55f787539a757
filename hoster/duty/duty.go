// Package duty does the hoster's x/attest duties: it answers the storage
// challenges addressed to it (MsgSubmitProofs, batched, as soon as they
// are seen, well before their deadline) and performs the performance
// checks it is drawn for as an attestor (MsgSubmitAttestation).
//
// Open challenges and checks are read from the chain by query, on start,
// whenever a block's events name this hoster, and every few seconds, so a
// restart loses none: the chain keeps a challenge open until its answer is
// included. Before an answer is broadcast its tx hash and timeout height
// are recorded in the store; while that tx may still land the challenge is
// not answered again.
package duty

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/follower"
	"github.com/datdot/datdot/hoster/server"
	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hypercore"
	attesttypes "github.com/datdot/datdot/x/attest/types"
)

// Config configures the duties.
type Config struct {
	Chain   *chainclient.Client
	Store   *store.Store
	Log     *slog.Logger
	Metrics *server.Metrics
	// HTTP reaches other hosters for checks (default: 20s timeout).
	HTTP *http.Client
	// Poll is how often open challenges and checks are re-read (default 3s).
	Poll time.Duration
	// Damaged is told about a core that could not prove a block.
	Damaged func(key [32]byte)
}

// Duties runs the challenge and check workers.
type Duties struct {
	cfg   Config
	me    string
	kickC chan struct{}
	kickK chan struct{}
}

// New returns the duties of the chain client's key.
func New(cfg Config) *Duties {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 20 * time.Second}
	}
	if cfg.Poll == 0 {
		cfg.Poll = 3 * time.Second
	}
	return &Duties{cfg: cfg, me: cfg.Chain.Address(), kickC: make(chan struct{}, 1), kickK: make(chan struct{}, 1)}
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Hook is the follower's per-block hook: it wakes the workers when the
// block's events name this hoster.
func (d *Duties) Hook() follower.BlockHook {
	return func(_ context.Context, b *chainclient.Block) error {
		if b.Missing {
			kick(d.kickC)
			kick(d.kickK)
		}
		for _, m := range b.Typed() {
			switch e := m.(type) {
			case *attesttypes.EventChallengeIssued:
				if e.Hoster == d.me {
					if d.cfg.Metrics != nil {
						d.cfg.Metrics.ChallengesSeen.Inc()
					}
					kick(d.kickC)
				}
			case *attesttypes.EventCheckIssued:
				if slices.Contains(e.Attestors, d.me) {
					kick(d.kickK)
				}
			}
		}
		return nil
	}
}

// Run runs both workers until ctx ends.
func (d *Duties) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.loop(ctx, d.kickK, d.checks)
	}()
	d.loop(ctx, d.kickC, d.challenges)
	<-done
	return ctx.Err()
}

func (d *Duties) loop(ctx context.Context, k chan struct{}, pass func(context.Context) error) {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		if err := pass(ctx); err != nil && ctx.Err() == nil {
			d.cfg.Log.Warn("duty pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-k:
		case <-t.C:
		}
	}
}

// openChallenges lists the challenges the chain has open for this hoster.
func (d *Duties) openChallenges(ctx context.Context) ([]attesttypes.Challenge, error) {
	q := attesttypes.NewQueryClient(d.cfg.Chain.Conn())
	var out []attesttypes.Challenge
	var key []byte
	for {
		res, err := q.ChallengesByHoster(ctx, &attesttypes.QueryChallengesByHosterRequest{Hoster: d.me, Pagination: &query.PageRequest{Key: key, Limit: 500}})
		if err != nil {
			return nil, fmt.Errorf("open challenges: %w", err)
		}
		out = append(out, res.Challenges...)
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			return out, nil
		}
		key = res.Pagination.NextKey
	}
}

// challenges answers every open challenge that has no answer in flight.
func (d *Duties) challenges(ctx context.Context) error {
	open, err := d.openChallenges(ctx)
	if err != nil {
		return err
	}
	// The height and the params matter only for open challenges: a pass
	// with none (most passes) asks the node nothing more.
	var height int64
	maxAnswers := 64
	if len(open) > 0 {
		if height, err = d.cfg.Chain.Height(ctx); err != nil {
			return err
		}
		params, err := attesttypes.NewQueryClient(d.cfg.Chain.Conn()).Params(ctx, &attesttypes.QueryParamsRequest{})
		if err != nil {
			return err
		}
		if n := int(params.Params.MaxAnswersPerMsg); n > 0 {
			maxAnswers = n
		}
	}
	openIDs := map[uint64]bool{}
	var answers []attesttypes.ChallengeAnswer
	for _, c := range open {
		openIDs[c.Id] = true
		rec, ok, err := d.cfg.Store.Challenge(c.Id)
		if err != nil {
			return err
		}
		if !ok {
			rec = store.Challenge{ID: c.Id, Slot: store.Slot{OrderID: c.OrderId, CoreIndex: c.CoreIndex, Replica: c.Replica},
				Indices: c.Indices, Length: c.Length, Deadline: c.DeadlineHeight}
			if err := d.cfg.Store.PutChallenge(rec); err != nil {
				return err
			}
			d.cfg.Log.Info("challenge", "id", c.Id, "slot", rec.Slot.String(), "indices", c.Indices, "length", c.Length, "deadline", c.DeadlineHeight)
		}
		if rec.TxHash != "" && height <= rec.TimeoutHeight {
			continue // an answer may still land
		}
		if height > c.DeadlineHeight {
			continue // too late: the chain records a miss
		}
		a, err := d.answer(ctx, c)
		if err != nil {
			d.cfg.Log.Error("cannot answer challenge", "id", c.Id, "slot", rec.Slot.String(), "err", err)
			continue
		}
		answers = append(answers, a)
	}
	batches := splitAnswers(answers, maxAnswers, MaxBatchProofBytes)
	// Forget what the chain closed.
	recs, err := d.cfg.Store.Challenges()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if !openIDs[r.ID] {
			if err := d.cfg.Store.DeleteChallenge(r.ID); err != nil {
				return err
			}
		}
	}
	// Send every batch, then wait for them: they land in the same block
	// when they fit.
	var errs []error
	var sent []chainclient.Sent
	var sentAnswers [][]attesttypes.ChallengeAnswer
	for _, answers := range batches {
		s, err := d.submit(ctx, answers)
		if err != nil {
			errs = append(errs, err)
			if !errors.Is(err, chainclient.ErrRefused) {
				break // the node is unreachable or the sequence unknown: next pass
			}
			continue
		}
		sent, sentAnswers = append(sent, s), append(sentAnswers, answers)
	}
	for i, s := range sent {
		if err := d.settle(ctx, s, sentAnswers[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MaxBatchProofBytes bounds the proof bytes of one MsgSubmitProofs tx, so
// that the tx fits CometBFT's default limits on the way to the node
// (rpc.max_body_bytes, 1 MB) and into the mempool (max_tx_bytes, 1 MB);
// more answers go in more txs. One answer larger than this still goes,
// alone.
const MaxBatchProofBytes = 384 << 10

// splitAnswers cuts answers, in order, into batches of at most
// maxAnswers answers and maxBytes proof bytes each (an answer larger than
// maxBytes alone).
func splitAnswers(answers []attesttypes.ChallengeAnswer, maxAnswers, maxBytes int) [][]attesttypes.ChallengeAnswer {
	var batches [][]attesttypes.ChallengeAnswer
	var cur []attesttypes.ChallengeAnswer
	size := 0
	for _, a := range answers {
		n := 0
		for _, p := range a.Proofs {
			n += len(p)
		}
		if len(cur) > 0 && (len(cur) >= maxAnswers || size+n > maxBytes) {
			batches = append(batches, cur)
			cur, size = nil, 0
		}
		cur = append(cur, a)
		size += n
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches
}

// submit broadcasts one batch of answers, recording the tx on each
// challenge before it leaves.
func (d *Duties) submit(ctx context.Context, answers []attesttypes.ChallengeAnswer) (chainclient.Sent, error) {
	msg := &attesttypes.MsgSubmitProofs{Hoster: d.me, Answers: answers}
	sent, err := d.cfg.Chain.Send(ctx, func(s chainclient.Sent) error {
		for _, a := range answers {
			rec, _, err := d.cfg.Store.Challenge(a.ChallengeId)
			if err != nil {
				return err
			}
			rec.TxHash, rec.TimeoutHeight = s.Hash, s.TimeoutHeight
			if err := d.cfg.Store.PutChallenge(rec); err != nil {
				return err
			}
		}
		return nil
	}, msg)
	if err != nil {
		if errors.Is(err, chainclient.ErrRefused) {
			d.clearAnswers(answers)
		}
		return sent, fmt.Errorf("submit proofs: %w", err)
	}
	d.cfg.Log.Info("proofs sent", "answers", len(answers), "tx", sent.Hash)
	return sent, nil
}

// settle waits for the tx of a batch of answers.
func (d *Duties) settle(ctx context.Context, sent chainclient.Sent, answers []attesttypes.ChallengeAnswer) error {
	res, err := d.cfg.Chain.Wait(ctx, sent)
	var txErr *chainclient.TxError
	if errors.As(err, &txErr) || errors.Is(err, chainclient.ErrExpired) {
		// The tx will never answer them (refused as a whole, e.g. one
		// challenge closed meanwhile, out of gas, or expired): answer
		// again at once.
		d.clearAnswers(answers)
		kick(d.kickC)
	}
	if err != nil {
		return fmt.Errorf("submit proofs %s: %w", sent.Hash, err)
	}
	d.cfg.Log.Info("proofs included", "answers", len(answers), "height", res.Height)
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.Answered.Add(float64(len(answers)))
	}
	return nil
}

// clearAnswers forgets the tx recorded on the answers' challenges, so
// they are answered again.
func (d *Duties) clearAnswers(answers []attesttypes.ChallengeAnswer) {
	for _, a := range answers {
		if rec, ok, _ := d.cfg.Store.Challenge(a.ChallengeId); ok {
			rec.TxHash = ""
			_ = d.cfg.Store.PutChallenge(rec)
		}
	}
}

// answer makes the proofs of challenge c from the held core.
func (d *Duties) answer(ctx context.Context, c attesttypes.Challenge) (attesttypes.ChallengeAnswer, error) {
	a, ok, err := d.cfg.Store.Assignment(store.Slot{OrderID: c.OrderId, CoreIndex: c.CoreIndex, Replica: c.Replica})
	if err != nil {
		return attesttypes.ChallengeAnswer{}, err
	}
	if !ok {
		return attesttypes.ChallengeAnswer{}, errors.New("slot not known yet")
	}
	core, err := d.cfg.Store.Core(ctx, a.Key)
	if err != nil {
		return attesttypes.ChallengeAnswer{}, err
	}
	out := attesttypes.ChallengeAnswer{ChallengeId: c.Id}
	for _, idx := range c.Indices {
		p, err := core.BlockProofAt(ctx, idx, c.Length)
		if err != nil {
			if errors.Is(err, hypercore.ErrCorrupt) {
				if d.cfg.Metrics != nil {
					d.cfg.Metrics.DamagedBlocks.Inc()
				}
				if d.cfg.Damaged != nil {
					d.cfg.Damaged(a.Key)
				}
			}
			return attesttypes.ChallengeAnswer{}, fmt.Errorf("block %d at length %d: %w", idx, c.Length, err)
		}
		out.Proofs = append(out.Proofs, p.Encode())
	}
	return out, nil
}

// checks performs the performance checks this hoster attests.
func (d *Duties) checks(ctx context.Context) error {
	q := attesttypes.NewQueryClient(d.cfg.Chain.Conn())
	res, err := q.ChecksByAttestor(ctx, &attesttypes.QueryChecksByAttestorRequest{Attestor: d.me, Pagination: &query.PageRequest{Limit: 100}})
	if err != nil {
		return fmt.Errorf("checks: %w", err)
	}
	if len(res.Checks) == 0 {
		return nil // most passes: no status query
	}
	height, err := d.cfg.Chain.Height(ctx)
	if err != nil {
		return err
	}
	for _, c := range res.Checks {
		if height > c.DeadlineHeight {
			continue
		}
		done, err := d.cfg.Store.CheckReported(c.Id)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		ok, latency, tput := d.measure(ctx, c)
		d.cfg.Log.Info("attestation", "check", c.Id, "endpoint", c.Endpoint, "ok", ok, "latency_ms", latency, "throughput_bps", tput)
		msg := &attesttypes.MsgSubmitAttestation{Attestor: d.me, CheckId: c.Id, Ok: ok, LatencyMs: latency, ThroughputBps: tput}
		sent, err := d.cfg.Chain.Send(ctx, func(s chainclient.Sent) error { return d.cfg.Store.PutCheckReport(c.Id, s.Hash, s.TimeoutHeight) }, msg)
		if err != nil {
			d.cfg.Log.Warn("submit attestation", "check", c.Id, "err", err)
			continue
		}
		if _, err := d.cfg.Chain.Wait(ctx, sent); err != nil {
			d.cfg.Log.Warn("attestation tx", "check", c.Id, "err", err)
		}
	}
	return nil
}

// measure fetches the check's blocks with proofs from the checked hoster,
// as any reader would, and verifies each against the committed tree.
func (d *Duties) measure(ctx context.Context, c attesttypes.Check) (ok bool, latencyMs uint32, throughput uint64) {
	cl, err := client.New(c.Endpoint, d.cfg.HTTP)
	if err != nil || len(c.CoreKey) != 32 || len(c.TreeHash) != 32 {
		return false, 0, 0
	}
	var key, th [32]byte
	copy(key[:], c.CoreKey)
	copy(th[:], c.TreeHash)
	ok = true
	var lat []time.Duration
	var bytes int64
	var total time.Duration
	for _, idx := range c.Indices {
		t0 := time.Now()
		p, raw, err := cl.Proof(ctx, key, idx, c.Length)
		dt := time.Since(t0)
		lat = append(lat, dt)
		total += dt
		if err != nil {
			d.cfg.Log.Info("check: fetch failed", "check", c.Id, "core", hex.EncodeToString(key[:]), "index", idx, "err", err)
			ok = false
			continue
		}
		if _, err := hypercore.VerifyBlockAt(p, idx, c.Length, th); err != nil {
			d.cfg.Log.Info("check: block does not verify", "check", c.Id, "index", idx, "err", err)
			ok = false
			continue
		}
		bytes += int64(len(raw))
	}
	if len(lat) == 0 {
		return false, 0, 0
	}
	slices.Sort(lat)
	med := lat[len(lat)/2]
	if total > 0 {
		throughput = uint64(float64(bytes) / total.Seconds())
	}
	return ok, uint32(min(med.Milliseconds(), 1<<31)), throughput
}
