package onchain

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/durable"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// Renewer keeps the orders of the gateway's volumes (data volumes and the
// metadata log's generations) paid ahead of their end on chain.
//
// Every order the Shipper places or finds is tracked in a bbolt file
// (order id → volume, end epoch, with an index by end epoch). A pass
// (Renew) reads the chain's epoch; when a tracked order ends within Margin
// epochs, every tracked order ending within 2 × Margin is extended, in as
// few transactions as possible (Batch MsgExtendOrder per tx), so that it
// ends Margin + Epochs epochs from now, with the top-up the order's
// escrow then lacks. Renewed orders share their end epoch, so they come
// due together again: the number of renewal txs grows with the number of
// times orders were placed apart, never with objects or blocks.
//
// A tx is recorded in the file before it is broadcast; a restarted
// gateway waits for it instead of extending twice. A refused batch is
// split in halves until the order at fault is alone; it is retried by the
// next pass. Orders of volumes Keep says no to (given up by compaction)
// are not renewed.
type Renewer struct {
	cfg   RenewConfig
	chain renewChain // cfg.Chain
	db    *bolt.DB

	mu sync.Mutex
	st RenewStatus
}

// renewChain is what a Renewer uses of its chain client
// (*chainclient.Client; tests give a fake).
type renewChain interface {
	Address() string
	Storage() storagetypes.QueryClient
	Height(ctx context.Context) (int64, error)
	Send(ctx context.Context, before func(chainclient.Sent) error, msgs ...sdk.Msg) (chainclient.Sent, error)
	Wait(ctx context.Context, s chainclient.Sent) (*chainclient.TxResult, error)
}

// RenewConfig configures a Renewer.
type RenewConfig struct {
	Chain *chainclient.Client
	// Path is the renewer's bbolt file (DATA/orders.db).
	Path string
	// Margin: an order is renewed when it ends within Margin epochs
	// (default 50).
	Margin uint64
	// Epochs a renewal adds beyond Margin (default 200).
	Epochs uint64
	// Batch is the most MsgExtendOrder per tx (default 50).
	Batch int
	// Keep reports whether a volume's order is still needed; nil keeps
	// every order.
	Keep func(vol string) bool
	Log  *slog.Logger
}

// RenewStatus is what the renewer did; it is also written to
// renew-status.json beside the file (Path) after every pass.
type RenewStatus struct {
	Tracked   int       `json:"tracked"`
	Epoch     uint64    `json:"epoch"`
	NextEnd   uint64    `json:"next_end,omitempty"` // earliest end epoch of a tracked order
	Passes    uint64    `json:"passes"`
	Renewed   uint64    `json:"renewed"` // order renewals done by this process
	Txs       uint64    `json:"txs"`     // renewal txs included
	TopUp     string    `json:"top_up"`  // total top-up paid by this process
	Dropped   uint64    `json:"dropped"` // orders no longer tracked (ended, given up)
	Failed    uint64    `json:"failed"`  // renewals refused (retried next pass)
	LastPass  time.Time `json:"last_pass"`
	LastError string    `json:"last_error,omitempty"`
}

var (
	bOrders = []byte("orders") // id (8) -> JSON tracked
	bDue    = []byte("due")    // end (8) id (8) -> nil
	bSent   = []byte("sent")   // "tx" -> JSON sentTx
	bMisc   = []byte("misc")   // "adopted" -> 1
)

type tracked struct {
	Vol string `json:"vol"`
	End uint64 `json:"end"`
}

type sentTx struct {
	Hash    string            `json:"hash"`
	Timeout int64             `json:"timeout"`
	Ends    map[uint64]uint64 `json:"ends"` // order id -> end after the tx
}

// NewRenewer opens the renewer's file.
func NewRenewer(cfg RenewConfig) (*Renewer, error) {
	if cfg.Chain == nil {
		return nil, errors.New("onchain: renewer without a chain client")
	}
	return openRenewer(cfg, cfg.Chain)
}

func openRenewer(cfg RenewConfig, chain renewChain) (*Renewer, error) {
	if cfg.Margin == 0 {
		cfg.Margin = 50
	}
	if cfg.Epochs == 0 {
		cfg.Epochs = 200
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("onchain: orders db: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bOrders, bDue, bSent, bMisc} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("onchain: orders db: %w", err)
	}
	return &Renewer{cfg: cfg, chain: chain, db: db, st: RenewStatus{TopUp: "0"}}, nil
}

// SetKeep sets RenewConfig.Keep (before Run).
func (r *Renewer) SetKeep(keep func(vol string) bool) { r.cfg.Keep = keep }

// Close closes the file.
func (r *Renewer) Close() error { return r.db.Close() }

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func dueKey(end, id uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, end), id)
}

// put tracks order id of vol ending at end.
func put(tx *bolt.Tx, id uint64, t tracked) error {
	ob, due := tx.Bucket(bOrders), tx.Bucket(bDue)
	if v := ob.Get(idKey(id)); v != nil {
		var old tracked
		if json.Unmarshal(v, &old) == nil {
			if err := due.Delete(dueKey(old.End, id)); err != nil {
				return err
			}
			if t.Vol == "" {
				t.Vol = old.Vol
			}
		}
	}
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := ob.Put(idKey(id), raw); err != nil {
		return err
	}
	return due.Put(dueKey(t.End, id), nil)
}

func drop(tx *bolt.Tx, id uint64) error {
	ob := tx.Bucket(bOrders)
	v := ob.Get(idKey(id))
	if v == nil {
		return nil
	}
	var old tracked
	if err := json.Unmarshal(v, &old); err == nil {
		if err := tx.Bucket(bDue).Delete(dueKey(old.End, id)); err != nil {
			return err
		}
	}
	return ob.Delete(idKey(id))
}

// Track starts keeping order id (of volume vol, hex) funded. The order's
// end is read from the chain.
func (r *Renewer) Track(ctx context.Context, id uint64, vol string) error {
	res, err := r.chain.Storage().Order(ctx, &storagetypes.QueryOrderRequest{Id: id})
	if err != nil {
		return fmt.Errorf("onchain: order %d: %w", id, err)
	}
	if res.Order.IsEnded() {
		return nil
	}
	return r.db.Update(func(tx *bolt.Tx) error { return put(tx, id, tracked{Vol: vol, End: res.Order.EndEpoch}) })
}

// Forget stops renewing order id.
func (r *Renewer) Forget(id uint64) error {
	return r.db.Update(func(tx *bolt.Tx) error { return drop(tx, id) })
}

// Tracked returns the tracked orders (id -> end epoch).
func (r *Renewer) Tracked() (map[uint64]uint64, error) {
	out := map[uint64]uint64{}
	err := r.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bOrders).ForEach(func(k, v []byte) error {
			var t tracked
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			out[binary.BigEndian.Uint64(k)] = t.End
			return nil
		})
	})
	return out, err
}

// Adopt tracks every live order of the chain account that is not tracked
// yet, once per file (a gateway upgraded to renewal, or one recovered on
// a new machine, has orders it never recorded).
func (r *Renewer) Adopt(ctx context.Context) (int, error) {
	var done bool
	r.db.View(func(tx *bolt.Tx) error { done = tx.Bucket(bMisc).Get([]byte("adopted")) != nil; return nil })
	if done {
		return 0, nil
	}
	n := 0
	var next []byte
	for {
		res, err := r.chain.Storage().OrdersByOwner(ctx, &storagetypes.QueryOrdersByOwnerRequest{Owner: r.chain.Address(),
			Pagination: &query.PageRequest{Key: next, Limit: 100}})
		if err != nil {
			return n, fmt.Errorf("onchain: orders of %s: %w", r.chain.Address(), err)
		}
		err = r.db.Update(func(tx *bolt.Tx) error {
			for _, o := range res.Orders {
				if o.IsEnded() || tx.Bucket(bOrders).Get(idKey(o.Id)) != nil {
					continue
				}
				if err := put(tx, o.Id, tracked{End: o.EndEpoch}); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			break
		}
		next = res.Pagination.NextKey
	}
	return n, r.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMisc).Put([]byte("adopted"), []byte{1}) })
}

// Status returns what the renewer did so far.
func (r *Renewer) Status() RenewStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// epoch returns the chain's current epoch (what the keeper computes at
// the next block is at least this).
func (r *Renewer) epoch(ctx context.Context) (uint64, error) {
	p, err := r.chain.Storage().Params(ctx, &storagetypes.QueryParamsRequest{})
	if err != nil {
		return 0, fmt.Errorf("onchain: storage params: %w", err)
	}
	h, err := r.chain.Height(ctx)
	if err != nil {
		return 0, err
	}
	if p.Params.EpochBlocks == 0 || h < 0 {
		return 0, errors.New("onchain: the chain reports no epoch length")
	}
	return uint64(h) / p.Params.EpochBlocks, nil
}

// RenewResult is what one pass did.
type RenewResult struct {
	Renewed int // orders extended
	Txs     int // txs included
	Dropped int // orders no longer tracked
	Failed  int // orders whose renewal was refused
}

// Renew runs one pass.
func (r *Renewer) Renew(ctx context.Context) (RenewResult, error) {
	res, err := r.renew(ctx)
	r.mu.Lock()
	r.st.Passes++
	r.st.LastPass = time.Now().UTC()
	r.st.Renewed += uint64(res.Renewed)
	r.st.Txs += uint64(res.Txs)
	r.st.Dropped += uint64(res.Dropped)
	r.st.Failed += uint64(res.Failed)
	if err != nil {
		r.st.LastError = err.Error()
	} else {
		r.st.LastError = ""
	}
	if tr, terr := r.Tracked(); terr == nil {
		r.st.Tracked = len(tr)
		r.st.NextEnd = 0
		for _, end := range tr {
			if r.st.NextEnd == 0 || end < r.st.NextEnd {
				r.st.NextEnd = end
			}
		}
	}
	st := r.st
	r.mu.Unlock()
	if raw, jerr := json.MarshalIndent(st, "", "  "); jerr == nil {
		if werr := durable.WriteFile(filepath.Join(filepath.Dir(r.cfg.Path), "renew-status.json"), append(raw, '\n')); werr != nil {
			r.cfg.Log.Warn("renewal: write status", "err", werr)
		}
	}
	return res, err
}

func (r *Renewer) renew(ctx context.Context) (RenewResult, error) {
	var out RenewResult
	if err := r.finishSent(ctx, &out); err != nil {
		return out, err
	}
	cur, err := r.epoch(ctx)
	if err != nil {
		return out, err
	}
	r.mu.Lock()
	r.st.Epoch = cur
	r.mu.Unlock()
	// Is any order due? Then take every order due within twice the margin.
	type cand struct {
		id uint64
		t  tracked
	}
	var cands []cand
	triggered := false
	err = r.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bDue).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			end, id := binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:])
			if end > cur+2*r.cfg.Margin {
				break
			}
			if end <= cur+r.cfg.Margin {
				triggered = true
			}
			var t tracked
			if err := json.Unmarshal(tx.Bucket(bOrders).Get(idKey(id)), &t); err != nil {
				return fmt.Errorf("onchain: tracked order %d: %w", id, err)
			}
			cands = append(cands, cand{id, t})
		}
		return nil
	})
	if err != nil || !triggered {
		return out, err
	}
	target := cur + r.cfg.Margin + r.cfg.Epochs
	var msgs []*storagetypes.MsgExtendOrder
	ends := map[uint64]uint64{}
	for _, c := range cands {
		if r.cfg.Keep != nil && c.t.Vol != "" && !r.cfg.Keep(c.t.Vol) {
			r.cfg.Log.Info("renewal: order not renewed, its volume is given up", "order", c.id, "volume", c.t.Vol)
			if err := r.Forget(c.id); err != nil {
				return out, err
			}
			out.Dropped++
			continue
		}
		msg, end, live, err := r.extension(ctx, c.id, cur, target)
		if err != nil {
			return out, err
		}
		if !live {
			r.cfg.Log.Warn("renewal: a tracked order has ended", "order", c.id, "volume", c.t.Vol, "end_epoch", c.t.End, "epoch", cur)
			if err := r.Forget(c.id); err != nil {
				return out, err
			}
			out.Dropped++
			continue
		}
		if msg == nil { // extended elsewhere: only the index moves
			if err := r.db.Update(func(tx *bolt.Tx) error { return put(tx, c.id, tracked{Vol: c.t.Vol, End: end}) }); err != nil {
				return out, err
			}
			continue
		}
		msgs = append(msgs, msg)
		ends[c.id] = target
	}
	for len(msgs) > 0 {
		n := min(len(msgs), r.cfg.Batch)
		if err := r.send(ctx, msgs[:n], ends, &out); err != nil {
			return out, err
		}
		msgs = msgs[n:]
	}
	return out, nil
}

// extension builds the MsgExtendOrder that makes order id end at target,
// with the top-up its escrow lacks for that; nil when it already ends
// later (end is then its end). live is false for an ended order.
func (r *Renewer) extension(ctx context.Context, id, cur, target uint64) (msg *storagetypes.MsgExtendOrder, end uint64, live bool, err error) {
	res, err := r.chain.Storage().Order(ctx, &storagetypes.QueryOrderRequest{Id: id})
	if status.Code(err) == codes.NotFound {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("onchain: order %d: %w", id, err)
	}
	o := res.Order
	if o.IsEnded() || o.EndEpoch <= res.CurrentEpoch {
		return nil, o.EndEpoch, false, nil
	}
	if o.EndEpoch >= target {
		return nil, o.EndEpoch, true, nil
	}
	from := max(res.CurrentEpoch, o.StartEpoch)
	need := math.ZeroInt()
	for _, c := range o.Cores {
		per := storagetypes.SlotPrice(o.MaxPrice, c.ByteLength).MulRaw(int64(max(o.Replicas, 1)))
		need = need.Add(per.Mul(math.NewIntFromUint64(target - from)))
	}
	avail := o.Escrow.Sub(res.Accrued)
	topUp := math.ZeroInt()
	if need.GT(avail) {
		topUp = need.Sub(avail)
	}
	p, err := r.chain.Storage().Params(ctx, &storagetypes.QueryParamsRequest{})
	if err != nil {
		return nil, 0, false, fmt.Errorf("onchain: storage params: %w", err)
	}
	return &storagetypes.MsgExtendOrder{Owner: r.chain.Address(), OrderId: id, ExtraEpochs: target - o.EndEpoch,
		TopUp: sdk.NewCoin(p.Params.Denom, topUp)}, o.EndEpoch, true, nil
}

// send extends msgs' orders in one tx; a refused tx is split in halves
// until the order at fault is alone (it is left for the next pass).
func (r *Renewer) send(ctx context.Context, msgs []*storagetypes.MsgExtendOrder, ends map[uint64]uint64, out *RenewResult) error {
	sdkMsgs := make([]sdk.Msg, len(msgs))
	rec := sentTx{Ends: map[uint64]uint64{}}
	topUp := math.ZeroInt()
	for i, m := range msgs {
		sdkMsgs[i] = m
		rec.Ends[m.OrderId] = ends[m.OrderId]
		topUp = topUp.Add(m.TopUp.Amount)
	}
	sent, err := r.chain.Send(ctx, func(s chainclient.Sent) error {
		rec.Hash, rec.Timeout = s.Hash, s.TimeoutHeight
		raw, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return r.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bSent).Put([]byte("tx"), raw) })
	}, sdkMsgs...)
	var result *chainclient.TxResult
	if err == nil {
		result, err = r.chain.Wait(ctx, sent)
	}
	var txErr *chainclient.TxError
	switch {
	case err == nil:
		if err := r.applySent(rec); err != nil {
			return err
		}
		out.Renewed += len(msgs)
		out.Txs++
		r.mu.Lock()
		if t, ok := math.NewIntFromString(r.st.TopUp); ok {
			r.st.TopUp = t.Add(topUp).String()
		}
		r.mu.Unlock()
		r.cfg.Log.Info("renewal: orders extended", "orders", len(msgs), "tx", result.Hash, "height", result.Height, "top_up", topUp.String())
		return nil
	case errors.Is(err, chainclient.ErrRefused) || errors.As(err, &txErr) || errors.Is(err, chainclient.ErrExpired):
		r.clearSent()
		if len(msgs) == 1 {
			out.Failed++
			r.cfg.Log.Warn("renewal: extension refused; retried next pass", "order", msgs[0].OrderId, "err", err)
			return nil
		}
		if errors.Is(err, chainclient.ErrExpired) {
			return err
		}
		h := len(msgs) / 2
		if err := r.send(ctx, msgs[:h], ends, out); err != nil {
			return err
		}
		return r.send(ctx, msgs[h:], ends, out)
	default:
		return fmt.Errorf("onchain: renewal tx: %w", err)
	}
}

func (r *Renewer) clearSent() {
	r.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bSent).Delete([]byte("tx")) })
}

// applySent moves the orders of an included tx to their new ends and
// forgets the tx.
func (r *Renewer) applySent(rec sentTx) error {
	return r.db.Update(func(tx *bolt.Tx) error {
		for id, end := range rec.Ends {
			v := tx.Bucket(bOrders).Get(idKey(id))
			if v == nil {
				continue
			}
			var t tracked
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			if end > t.End {
				t.End = end
				if err := put(tx, id, t); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bSent).Delete([]byte("tx"))
	})
}

// sentRecord is the renewal tx recorded as sent and not yet seen
// included, if any.
func (r *Renewer) sentRecord() (rec sentTx, found bool, err error) {
	err = r.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bSent).Get([]byte("tx"))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &rec)
	})
	return rec, found, err
}

// finishSent waits for a renewal tx a previous process sent and did not
// see included.
func (r *Renewer) finishSent(ctx context.Context, out *RenewResult) error {
	rec, found, err := r.sentRecord()
	if err != nil || !found {
		return err
	}
	res, err := r.chain.Wait(ctx, chainclient.Sent{Hash: rec.Hash, TimeoutHeight: rec.Timeout})
	var txErr *chainclient.TxError
	switch {
	case err == nil:
		r.cfg.Log.Info("renewal: a tx sent before a restart was included", "tx", res.Hash, "orders", len(rec.Ends))
		out.Txs++
		out.Renewed += len(rec.Ends)
		return r.applySent(rec)
	case errors.As(err, &txErr) || errors.Is(err, chainclient.ErrExpired):
		r.clearSent()
		return nil
	default:
		return err
	}
}

// Run renews every interval until ctx ends (and adopts the account's
// orders first).
func (r *Renewer) Run(ctx context.Context, interval time.Duration) {
	if n, err := r.Adopt(ctx); err != nil && ctx.Err() == nil {
		r.cfg.Log.Warn("renewal: adopt the account's orders", "err", err)
	} else if n > 0 {
		r.cfg.Log.Info("renewal: adopted the account's live orders", "orders", n)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if res, err := r.Renew(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Log.Warn("renewal pass", "err", err)
		} else if res.Renewed+res.Dropped+res.Failed > 0 {
			r.cfg.Log.Info("renewal pass", "renewed", res.Renewed, "txs", res.Txs, "dropped", res.Dropped, "failed", res.Failed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// isEnded reports a chain error saying an order is over or gone.
func isEnded(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, storagetypes.ErrOrderEnded.Error()) || strings.Contains(s, storagetypes.ErrOrderNotFound.Error())
}
