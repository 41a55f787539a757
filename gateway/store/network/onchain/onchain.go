// Package onchain ships a gateway's volumes to hosters: one storage order
// per volume on the DatDot chain (n cores, erasure k-of-n, placed at the
// volume's first flush), the cores pushed to their assigned hosters with
// hoster/client after every flush, and the order extended to the cores'
// new lengths in batches (at most one MsgExtendOrder per volume per
// ExtendEvery, never one per object).
package onchain

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/datdot/datdot/durable"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cosmossdk.io/math"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/gateway/store/network"
	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// Config configures a Shipper.
type Config struct {
	Chain *chainclient.Client
	// MaxPrice per GiB and epoch, DurationEpochs and Deposit of each
	// volume's order.
	MaxPrice       math.Int
	DurationEpochs uint64
	Deposit        sdk.Coin
	// AssignTimeout bounds the wait for hosters to be assigned to a new
	// order (default 2 minutes).
	AssignTimeout time.Duration
	// PushTimeout bounds one push to one hoster (default 1 minute).
	PushTimeout time.Duration
	// ExtendEvery is the shortest time between two extensions of one
	// volume's order (default 30 s).
	ExtendEvery time.Duration
	// Renewer, when set, is told of every order placed or reopened, so
	// that it keeps it funded (renew.go).
	Renewer *Renewer
	Log     *slog.Logger
}

// Shipper implements network.Shipper.
type Shipper struct {
	cfg  Config
	http *http.Client

	mu     sync.Mutex
	orders map[string]*order // by volume id
	// held is, per core key and endpoint, the length a hoster was last
	// seen to hold (so a push need not ask first).
	held map[heldKey]uint64

	// The clock and the extension the background extensions use
	// (time.Now, time.AfterFunc and Extend; tests replace them).
	now       func() time.Time
	afterFunc func(time.Duration, func())
	extend    func(ctx context.Context, v *network.Volume, id, length uint64) error
}

type heldKey struct {
	key [32]byte
	ep  string
}

// Locate implements network.Locator: the endpoints of the hosters the
// chain assigns to each core of v's order, committed ones first. The
// order is the one this shipper placed, or else found on chain by the
// volume's first core key (a gateway that lost its local files). With
// fresh the chain is asked again (callers limit how often).
func (s *Shipper) Locate(ctx context.Context, v network.VolumeRef, fresh bool) ([][]string, error) {
	hexID := v.Hex()
	s.mu.Lock()
	o := s.orders[hexID]
	if o != nil && o.endpoints != nil && !fresh {
		eps := o.endpoints
		s.mu.Unlock()
		return eps, nil
	}
	s.mu.Unlock()
	var id uint64
	if o != nil {
		id = o.id
	}
	if id == 0 && v.Dir != "" {
		if raw, err := os.ReadFile(filepath.Join(v.Dir, "order")); err == nil {
			id, _ = strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
		}
	}
	if id == 0 {
		if len(v.Keys) == 0 {
			return nil, fmt.Errorf("onchain: volume %s has no core keys", hexID)
		}
		found, err := s.findOrder(ctx, v.Keys[0][:])
		if err != nil {
			return nil, fmt.Errorf("onchain: order of volume %s: %w", hexID, err)
		}
		id = found
	}
	eps, _, err := s.endpoints(ctx, id, v)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o = s.orders[hexID]; o == nil {
		o = &order{id: id}
		s.orders[hexID] = o
	}
	if o.id == id {
		o.endpoints, o.located = eps, time.Now()
	}
	return eps, nil
}

var _ network.LayoutFinder = (*Shipper)(nil)

// VolumeLayout implements network.LayoutFinder: the layout of v's order
// (erasure k of its n cores), the order found as Locate finds it (this
// shipper's, the volume directory's order file, or this account's order
// whose first core is v's). A volume no order holds is
// network.ErrNoOrder.
func (s *Shipper) VolumeLayout(ctx context.Context, v network.VolumeRef) (volume.Layout, error) {
	hexID := v.Hex()
	if len(v.Keys) == 0 {
		return volume.Layout{}, fmt.Errorf("onchain: volume %s has no core keys", hexID)
	}
	id := s.knownOrder(v)
	if id == 0 {
		found, err := s.findOrder(ctx, v.Keys[0][:])
		if errors.Is(err, errNoOrder) {
			return volume.Layout{}, fmt.Errorf("onchain: volume %s: %w", hexID, network.ErrNoOrder)
		}
		if err != nil {
			return volume.Layout{}, fmt.Errorf("onchain: order of volume %s: %w", hexID, err)
		}
		id = found
	}
	res, err := s.cfg.Chain.Storage().Order(ctx, &storagetypes.QueryOrderRequest{Id: id})
	if err != nil {
		return volume.Layout{}, fmt.Errorf("onchain: order %d: %w", id, err)
	}
	return orderLayout(res.Order, v)
}

// orderLayout is the layout of ord, which must be v's (its first core).
func orderLayout(ord storagetypes.Order, v network.VolumeRef) (volume.Layout, error) {
	n := len(ord.Cores)
	l := volume.Layout{K: int(ord.ErasureK), M: n - int(ord.ErasureK)}
	if ord.ErasureK == 0 || int(ord.ErasureN) != n || l.Validate() != nil {
		return volume.Layout{}, fmt.Errorf("onchain: order %d is not an erasure-coded volume (%d-of-%d with %d cores)", ord.Id, ord.ErasureK, ord.ErasureN, n)
	}
	if !bytes.Equal(ord.Cores[0].Key, v.Keys[0][:]) {
		return volume.Layout{}, fmt.Errorf("onchain: order %d core 0 is not volume %s's", ord.Id, v.Hex())
	}
	return l, nil
}

// endpoints reads order id and returns, per core, the endpoints of its
// assigned hosters (committed ones first); complete is false when a core
// has none. With v.Keys set, the order must be v's: same layout and keys.
func (s *Shipper) endpoints(ctx context.Context, id uint64, v network.VolumeRef) ([][]string, bool, error) {
	q := s.cfg.Chain.Storage()
	res, err := q.Order(ctx, &storagetypes.QueryOrderRequest{Id: id})
	if err != nil {
		return nil, false, fmt.Errorf("onchain: order %d: %w", id, err)
	}
	n := v.Layout.N()
	if len(v.Keys) > 0 {
		ord := res.Order
		if int(ord.ErasureK) != v.Layout.K || int(ord.ErasureN) != n || len(ord.Cores) != n {
			return nil, false, fmt.Errorf("onchain: order %d is %d-of-%d with %d cores, volume %s is %d-of-%d", id, ord.ErasureK, ord.ErasureN, len(ord.Cores), v.Hex(), v.Layout.K, n)
		}
		for j, c := range ord.Cores {
			if !bytes.Equal(c.Key, v.Keys[j][:]) {
				return nil, false, fmt.Errorf("onchain: order %d core %d is not volume %s's", id, j, v.Hex())
			}
		}
	}
	eps := make([][]string, n)
	late := make([][]string, n)
	for _, av := range res.Assignments {
		a := av.Assignment
		if int(a.CoreIndex) >= n {
			continue
		}
		h, err := q.Hoster(ctx, &storagetypes.QueryHosterRequest{Address: a.Hoster})
		if err != nil {
			return nil, false, fmt.Errorf("onchain: hoster %s: %w", a.Hoster, err)
		}
		if a.CommittedLength > 0 {
			eps[a.CoreIndex] = append(eps[a.CoreIndex], h.Hoster.Endpoint)
		} else {
			late[a.CoreIndex] = append(late[a.CoreIndex], h.Hoster.Endpoint)
		}
	}
	complete := true
	for j := range eps {
		eps[j] = append(eps[j], late[j]...)
		complete = complete && len(eps[j]) > 0
	}
	return eps, complete, nil
}

type order struct {
	id         uint64
	located    time.Time  // when endpoints were last read from the chain
	endpoints  [][]string // per core, the assigned hosters' endpoints
	extended   time.Time
	chainLen   uint64
	extending  bool
	lastLength uint64
}

// New returns a shipper.
func New(cfg Config) *Shipper {
	if cfg.AssignTimeout <= 0 {
		cfg.AssignTimeout = 2 * time.Minute
	}
	if cfg.PushTimeout <= 0 {
		cfg.PushTimeout = time.Minute
	}
	if cfg.ExtendEvery <= 0 {
		cfg.ExtendEvery = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	// Every core's pusher keeps its connection to its hoster (net/http
	// keeps 2 idle per host by default). The transport sends each push's
	// blocks from where they lie, in one writev.
	t := client.NewTransport()
	t.MaxIdleConnsPerHost = 16
	s := &Shipper{cfg: cfg, http: &http.Client{Timeout: cfg.PushTimeout, Transport: t},
		orders: map[string]*order{}, held: map[heldKey]uint64{},
		now: time.Now, afterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
	s.extend = s.Extend
	return s
}

// coreAt describes core j of v at length for the chain.
func coreAt(ctx context.Context, v *network.Volume, j int, length uint64) (storagetypes.Core, error) {
	c := v.Cores[j]
	info := c.Info()
	th, roots, err := c.TreeHashAt(ctx, length)
	if err != nil {
		return storagetypes.Core{}, err
	}
	sig, err := hypercore.SignTree(v.Keys[j], info.Manifest, th[:], length, info.Fork)
	if err != nil {
		return storagetypes.Core{}, err
	}
	core := storagetypes.Core{Key: info.Key[:], Manifest: info.Manifest, Length: length, Fork: info.Fork,
		TreeHash: th[:], Signature: sig, Roots: storagetypes.RootsFromNodes(roots)}
	core.ByteLength, err = core.DeriveByteLength()
	return core, err
}

func (s *Shipper) cores(ctx context.Context, v *network.Volume, length uint64) ([]storagetypes.Core, error) {
	out := make([]storagetypes.Core, len(v.Cores))
	for j := range v.Cores {
		c, err := coreAt(ctx, v, j, length)
		if err != nil {
			return nil, fmt.Errorf("onchain: volume %s core %d: %w", v.Hex, j, err)
		}
		out[j] = c
	}
	return out, nil
}

// orderFile keeps a volume's order id, so a restarted gateway knows it.
func orderFile(v *network.Volume) string { return filepath.Join(v.Dir, "order") }

// Ship implements network.Shipper: the blocks up to length are durable on
// one hoster per core once it returns. Calls for one volume do not overlap
// (the volume flushes one at a time).
func (s *Shipper) Ship(ctx context.Context, v *network.Volume, length uint64) error {
	if v.Keys == nil {
		return fmt.Errorf("onchain: volume %s is not writable here", v.Hex)
	}
	o, err := s.order(ctx, v, length)
	if err != nil {
		return err
	}
	if err := s.pushAll(ctx, v, o, length); err != nil {
		return err
	}
	s.maybeExtend(v, o, length)
	return nil
}

var _ network.Settler = (*Shipper)(nil)

// Settle implements network.Settler: for a volume that takes no more
// blobs, every core's hosters hold blocks [0, length) and the order is
// extended to length (one MsgExtendOrder, sent before it returns) unless
// the chain has it at length already or the order has ended.
func (s *Shipper) Settle(ctx context.Context, v *network.Volume, length uint64) error {
	if v.Keys == nil {
		return fmt.Errorf("onchain: volume %s is not writable here", v.Hex)
	}
	var from uint64
	if raw, err := os.ReadFile(orderFile(v)); err == nil {
		id, _ := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
		if id != 0 {
			res, err := s.cfg.Chain.Storage().Order(ctx, &storagetypes.QueryOrderRequest{Id: id})
			if err != nil {
				return fmt.Errorf("onchain: order %d of volume %s: %w", id, v.Hex, err)
			}
			if res.Order.IsEnded() || len(res.Order.Cores) == 0 || res.Order.Cores[0].Length >= length {
				return nil
			}
			from = res.Order.Cores[0].Length
		}
	}
	// No order yet (a crash before it was placed) places it at length.
	o, err := s.order(ctx, v, length)
	if err != nil {
		return err
	}
	if err := s.pushAll(ctx, v, o, length); err != nil {
		return err
	}
	s.mu.Lock()
	placed := o.chainLen >= length
	s.mu.Unlock()
	if placed {
		return nil
	}
	if err := s.Extend(ctx, v, o.id, length); err != nil {
		return err
	}
	s.mu.Lock()
	o.chainLen = max(o.chainLen, length)
	o.lastLength = max(o.lastLength, length)
	s.mu.Unlock()
	s.cfg.Log.Info("settled the order of a volume", "volume", v.Hex, "order", o.id, "from", from, "length", length)
	return nil
}

// pushAll pushes blocks [0, length) of every core of v to its hosters.
func (s *Shipper) pushAll(ctx context.Context, v *network.Volume, o *order, length uint64) error {
	s.mu.Lock()
	endpoints := o.endpoints
	s.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(v.Cores))
	for j := range v.Cores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[j] = s.push(ctx, v, j, endpoints[j], length, nil)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		// The chain may have replaced a hoster: push to the current
		// assignments once more before giving up.
		ref := network.VolumeRef{ID: v.ID, Layout: v.Layout, Keys: make([][32]byte, len(v.Cores)), Dir: v.Dir}
		for j, c := range v.Cores {
			ref.Keys[j] = c.Info().Key
		}
		fresh, lerr := s.Locate(ctx, ref, true)
		if lerr != nil || slices.EqualFunc(fresh, endpoints, slices.Equal) {
			return err
		}
		s.cfg.Log.Info("volume placement changed; pushing to the current hosters", "volume", v.Hex, "order", o.id)
		for j := range v.Cores {
			if errs[j] == nil {
				continue
			}
			if errs[j] = s.push(ctx, v, j, fresh[j], length, nil); errs[j] != nil {
				return errors.Join(errs...)
			}
		}
	}
	return nil
}

// Prepare implements network.CoreShipper: the volume's order exists
// (placed at length on the first call) and every core has a hoster.
func (s *Shipper) Prepare(ctx context.Context, v *network.Volume, length uint64) error {
	if v.Keys == nil {
		return fmt.Errorf("onchain: volume %s is not writable here", v.Hex)
	}
	_, err := s.order(ctx, v, length)
	return err
}

// PushCore implements network.CoreShipper: blocks [0, length) of core j
// are durable on every hoster assigned to it once it returns nil. A failed
// push is tried once more at the chain's current assignment of the core
// (the chain may have replaced its hoster).
func (s *Shipper) PushCore(ctx context.Context, v *network.Volume, j int, length uint64) error {
	o, err := s.order(ctx, v, length)
	if err != nil {
		return err
	}
	s.mu.Lock()
	eps := o.endpoints[j]
	s.mu.Unlock()
	// The volume keeps the blocks not yet pushed in memory: the pushes
	// send them from there.
	src := v.PushSource(j)
	err = s.push(ctx, v, j, eps, length, src)
	if err == nil || ctx.Err() != nil {
		return err
	}
	ref := network.VolumeRef{ID: v.ID, Layout: v.Layout, Keys: make([][32]byte, len(v.Cores)), Dir: v.Dir}
	for i, c := range v.Cores {
		ref.Keys[i] = c.Info().Key
	}
	fresh, lerr := s.Locate(ctx, ref, true)
	if lerr != nil || slices.Equal(fresh[j], eps) {
		return err
	}
	s.cfg.Log.Info("core placement changed; pushing to the current hosters", "volume", v.Hex, "order", o.id, "core", j)
	return s.push(ctx, v, j, fresh[j], length, src)
}

// Shipped implements network.CoreShipper: the order is extended to length
// in the background, in batches (maybeExtend).
func (s *Shipper) Shipped(v *network.Volume, length uint64) {
	s.mu.Lock()
	o := s.orders[v.Hex]
	s.mu.Unlock()
	if o != nil {
		s.maybeExtend(v, o, length)
	}
}

// push pushes blocks [0, length) of core j to every endpoint, taking the
// blocks from src (nil: the local core).
func (s *Shipper) push(ctx context.Context, v *network.Volume, j int, endpoints []string, length uint64, src client.BlockFunc) error {
	if len(endpoints) == 0 {
		return fmt.Errorf("onchain: volume %s core %d has no hoster", v.Hex, j)
	}
	for _, ep := range endpoints {
		c, err := client.New(ep, s.http)
		if err != nil {
			return err
		}
		// A hoster learns of a new assignment from the chain a little
		// after it is made: retry "not assigned" for AssignTimeout.
		deadline := time.Now().Add(s.cfg.AssignTimeout)
		hk := heldKey{v.Cores[j].Info().Key, ep}
		for {
			s.mu.Lock()
			start, known := s.held[hk]
			s.mu.Unlock()
			pctx, cancel := context.WithTimeout(ctx, s.cfg.PushTimeout)
			var got uint64
			if known && start <= length {
				got, err = c.PushCoreFromWith(pctx, v.Cores[j], v.Keys[j], start, length, 0, src)
			} else {
				got, err = c.PushCoreWith(pctx, v.Cores[j], v.Keys[j], length, 0, src)
			}
			cancel()
			s.mu.Lock()
			if err == nil {
				s.held[hk] = got
			} else {
				delete(s.held, hk) // ask next time
			}
			s.mu.Unlock()
			if err == nil || !notAssigned(err) || time.Now().After(deadline) {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
		if err != nil {
			return fmt.Errorf("onchain: push volume %s core %d to %s: %w", v.Hex, j, ep, err)
		}
	}
	return nil
}

// notAssigned reports a hoster's refusal of a core it has no assignment
// for (yet).
func notAssigned(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == http.StatusForbidden && strings.Contains(e.Message, "not assigned")
}

// order returns the volume's order, placing it at length if there is
// none, and waits for every core to have a hoster.
func (s *Shipper) order(ctx context.Context, v *network.Volume, length uint64) (*order, error) {
	s.mu.Lock()
	o := s.orders[v.Hex]
	s.mu.Unlock()
	if o != nil && o.endpoints != nil {
		return o, nil
	}
	if o == nil {
		o = &order{}
		if raw, err := os.ReadFile(orderFile(v)); err == nil {
			o.id, _ = strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
		}
		if o.id != 0 {
			// A reopened volume: start from the length the chain has, so
			// the next extension is sent only if the volume grew.
			res, err := s.cfg.Chain.Storage().Order(ctx, &storagetypes.QueryOrderRequest{Id: o.id})
			if err != nil {
				return nil, fmt.Errorf("onchain: order %d of volume %s: %w", o.id, v.Hex, err)
			}
			if len(res.Order.Cores) > 0 {
				o.chainLen = res.Order.Cores[0].Length
			}
			s.track(ctx, o.id, v.Hex)
		}
		if o.id == 0 {
			id, err := s.place(ctx, v, length)
			if err != nil {
				return nil, err
			}
			o.id, o.chainLen, o.extended = id, length, s.now()
		}
		s.mu.Lock()
		s.orders[v.Hex] = o
		s.mu.Unlock()
	}
	eps, err := s.waitAssigned(ctx, o.id, len(v.Cores))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	o.endpoints = eps
	s.mu.Unlock()
	return o, nil
}

func (s *Shipper) place(ctx context.Context, v *network.Volume, length uint64) (uint64, error) {
	cores, err := s.cores(ctx, v, length)
	if err != nil {
		return 0, err
	}
	msg := &storagetypes.MsgPlaceOrder{Owner: s.cfg.Chain.Address(), Cores: cores,
		ErasureK: uint32(v.Layout.K), ErasureN: uint32(v.Layout.N()),
		MaxPrice: s.cfg.MaxPrice, DurationEpochs: s.cfg.DurationEpochs, Deposit: s.cfg.Deposit}
	res, err := s.cfg.Chain.SendAndWait(ctx, msg)
	if err != nil {
		return 0, fmt.Errorf("onchain: place order for volume %s: %w", v.Hex, err)
	}
	id, err := placedOrderID(res)
	if err != nil {
		id, err = s.findOrder(ctx, cores[0].Key)
	}
	if err != nil {
		return 0, fmt.Errorf("onchain: order of volume %s placed in tx %s: %w", v.Hex, res.Hash, err)
	}
	r := storagetypes.MsgPlaceOrderResponse{OrderId: id}
	if err := durable.WriteFile(orderFile(v), []byte(strconv.FormatUint(r.OrderId, 10)+"\n")); err != nil {
		return 0, err
	}
	s.cfg.Log.Info("placed the order of a volume", "volume", v.Hex, "order", r.OrderId, "tx", res.Hash, "cores", len(cores))
	s.track(ctx, r.OrderId, v.Hex)
	return r.OrderId, nil
}

// SetRenewer sets Config.Renewer (before the first Ship).
func (s *Shipper) SetRenewer(r *Renewer) { s.cfg.Renewer = r }

// Renewer returns Config.Renewer (nil when none).
func (s *Shipper) Renewer() *Renewer { return s.cfg.Renewer }

// track hands an order to the renewer (a failure is logged: the
// renewer's first pass adopts the account's orders it does not know).
func (s *Shipper) track(ctx context.Context, id uint64, vol string) {
	if s.cfg.Renewer == nil {
		return
	}
	if err := s.cfg.Renewer.Track(ctx, id, vol); err != nil {
		s.cfg.Log.Warn("renewal: track order", "order", id, "volume", vol, "err", err)
	}
}

// knownOrder is the id of v's order as this gateway recorded it (in memory
// or in the volume's "order" file), 0 when it has none.
func (s *Shipper) knownOrder(v network.VolumeRef) uint64 {
	s.mu.Lock()
	var id uint64
	if o := s.orders[v.Hex()]; o != nil {
		id = o.id
	}
	s.mu.Unlock()
	if id == 0 && v.Dir != "" {
		if raw, err := os.ReadFile(filepath.Join(v.Dir, "order")); err == nil {
			id, _ = strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
		}
	}
	return id
}

// Retire implements network.Retirer: it cancels v's order (the unspent
// escrow is refunded) and stops renewing it. A volume without an order,
// or whose order already ended, is not an error.
func (s *Shipper) Retire(ctx context.Context, v network.VolumeRef) error {
	hexID := v.Hex()
	id := s.knownOrder(v)
	if id == 0 && len(v.Keys) > 0 {
		found, err := s.findOrder(ctx, v.Keys[0][:])
		if err != nil && !errors.Is(err, errNoOrder) {
			return fmt.Errorf("onchain: retire volume %s: %w", hexID, err)
		}
		id = found
	}
	if id == 0 {
		s.cfg.Log.Info("retire: the volume has no order", "volume", hexID)
		return nil
	}
	if err := s.giveUp(ctx, id, hexID); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.orders, hexID)
	s.mu.Unlock()
	return nil
}

// giveUp cancels order id (of volume vol, hex, when known) and stops
// renewing it; an order that has ended already is not an error.
func (s *Shipper) giveUp(ctx context.Context, id uint64, vol string) error {
	res, err := s.cfg.Chain.SendAndWait(ctx, &storagetypes.MsgCancelOrder{Owner: s.cfg.Chain.Address(), OrderId: id})
	switch {
	case err == nil:
		s.cfg.Log.Info("retire: cancelled an order given up", "volume", vol, "order", id, "tx", res.Hash)
	case isEnded(err):
		s.cfg.Log.Info("retire: the order given up had ended", "volume", vol, "order", id)
	default:
		return fmt.Errorf("onchain: cancel order %d of volume %s: %w", id, vol, err)
	}
	if s.cfg.Renewer != nil {
		return s.cfg.Renewer.Forget(id)
	}
	return nil
}

var _ network.OrderBook = (*Shipper)(nil)

// OwnedOrders implements network.OrderBook: the chain account's orders
// that have not ended, by id, with their first core key.
func (s *Shipper) OwnedOrders(ctx context.Context) (map[uint64][32]byte, error) {
	out := map[uint64][32]byte{}
	var next []byte
	for {
		res, err := s.cfg.Chain.Storage().OrdersByOwner(ctx, &storagetypes.QueryOrdersByOwnerRequest{Owner: s.cfg.Chain.Address(),
			Pagination: &query.PageRequest{Key: next, Limit: 100}})
		if err != nil {
			return nil, fmt.Errorf("onchain: orders of %s: %w", s.cfg.Chain.Address(), err)
		}
		for _, o := range res.Orders {
			if o.IsEnded() || len(o.Cores) == 0 || len(o.Cores[0].Key) != 32 {
				continue
			}
			out[o.Id] = [32]byte(o.Cores[0].Key)
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			return out, nil
		}
		next = res.Pagination.NextKey
	}
}

// CancelOrder implements network.OrderBook: order id is cancelled (the
// unspent escrow is refunded) and no longer renewed.
func (s *Shipper) CancelOrder(ctx context.Context, id uint64) error {
	return s.giveUp(ctx, id, "")
}

// placedOrderID reads the order id from the tx's message response, or
// from its EventOrderPlaced.
func placedOrderID(res *chainclient.TxResult) (uint64, error) {
	if len(res.Responses) > 0 {
		var a codectypes.Any
		var r storagetypes.MsgPlaceOrderResponse
		if a.Unmarshal(res.Responses[0]) == nil && r.Unmarshal(a.Value) == nil && r.OrderId != 0 {
			return r.OrderId, nil
		}
	}
	for _, e := range res.Events {
		if !strings.HasSuffix(e.Type, "EventOrderPlaced") {
			continue
		}
		for _, at := range e.Attributes {
			if at.Key == "order_id" {
				id, err := strconv.ParseUint(strings.Trim(at.Value, `"`), 10, 64)
				if err == nil && id != 0 {
					return id, nil
				}
			}
		}
	}
	return 0, errors.New("no order id in the tx result")
}

// errNoOrder: no order of this account names the volume's first core
// (never placed, or pruned after it ended).
var errNoOrder = errors.New("onchain: no order of this account holds the volume's first core")

// findOrder looks for this account's order whose first core is key,
// newest first, through the chain's index of orders by core key (the
// orders naming one core are few; the account's orders may be many).
func (s *Shipper) findOrder(ctx context.Context, key []byte) (uint64, error) {
	q := s.cfg.Chain.Storage()
	owner := s.cfg.Chain.Address()
	var next []byte
	for {
		res, err := q.OrdersByCore(ctx, &storagetypes.QueryOrdersByCoreRequest{Key: hex.EncodeToString(key),
			Pagination: &query.PageRequest{Key: next, Limit: 20, Reverse: true}})
		if err != nil {
			return 0, fmt.Errorf("onchain: orders of core %x: %w", key, err)
		}
		for _, o := range res.Orders {
			if o.Owner == owner && len(o.Cores) > 0 && bytes.Equal(o.Cores[0].Key, key) {
				return o.Id, nil
			}
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			return 0, errNoOrder
		}
		next = res.Pagination.NextKey
	}
}

// waitAssigned polls the order until every core has a hoster and returns
// their endpoints per core.
func (s *Shipper) waitAssigned(ctx context.Context, id uint64, n int) ([][]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AssignTimeout)
	defer cancel()
	for {
		eps, complete, err := s.endpoints(ctx, id, network.VolumeRef{Layout: volumeLayoutN(n)})
		if err == nil && complete {
			return eps, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("onchain: order %d: not every core has a hoster: %w", id, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// volumeLayoutN is a layout of n cores for endpoints without key checks.
func volumeLayoutN(n int) volume.Layout { return volume.Layout{K: n} }

// maybeExtend extends the order to the volume's latest length in the
// background: at once when the last extension is older than ExtendEvery,
// else once that time has passed (so the chain learns the final length of
// a volume that stops growing).
func (s *Shipper) maybeExtend(v *network.Volume, o *order, length uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o.lastLength = max(o.lastLength, length)
	if o.extending || o.lastLength <= o.chainLen {
		return
	}
	o.extending = true
	wait := max(0, s.cfg.ExtendEvery-s.now().Sub(o.extended))
	s.afterFunc(wait, func() { s.extendLatest(v, o) })
}

func (s *Shipper) extendLatest(v *network.Volume, o *order) {
	s.mu.Lock()
	length := o.lastLength
	s.mu.Unlock()
	err := s.extend(context.Background(), v, o.id, length)
	s.mu.Lock()
	o.extending = false
	o.extended = s.now()
	if err == nil {
		o.chainLen = max(o.chainLen, length)
	}
	again := o.lastLength > o.chainLen
	s.mu.Unlock()
	if err != nil {
		s.cfg.Log.Warn("extend order", "volume", v.Hex, "order", o.id, "err", err)
	} else {
		s.cfg.Log.Info("extended the order of a volume", "volume", v.Hex, "order", o.id, "length", length)
	}
	if again {
		s.maybeExtend(v, o, 0)
	}
}

// Extend sends one MsgExtendOrder with every core of v at length.
func (s *Shipper) Extend(ctx context.Context, v *network.Volume, id, length uint64) error {
	cores, err := s.cores(ctx, v, length)
	if err != nil {
		return err
	}
	_, err = s.cfg.Chain.SendAndWait(ctx, &storagetypes.MsgExtendOrder{Owner: s.cfg.Chain.Address(), OrderId: id, Cores: cores,
		TopUp: sdk.NewInt64Coin(s.cfg.Deposit.Denom, 0)})
	if err != nil {
		return fmt.Errorf("onchain: extend order %d: %w", id, err)
	}
	return nil
}

// Cancel cancels v's order on chain (MsgCancelOrder): its hosters drop
// the cores and the rest of the deposit returns to the owner. The order is
// the one this shipper placed or reopened, or else found on chain by the
// volume's first core key. A volume with no order is not an error.
func (s *Shipper) Cancel(ctx context.Context, v *network.Volume) error {
	s.mu.Lock()
	o := s.orders[v.Hex]
	s.mu.Unlock()
	var id uint64
	if o != nil {
		id = o.id
	} else if raw, err := os.ReadFile(orderFile(v)); err == nil {
		id, _ = strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
	}
	if id == 0 {
		var key [32]byte
		switch {
		case len(v.Cores) > 0 && v.Cores[0] != nil:
			key = v.Cores[0].Key()
		case len(v.Keys) > 0:
			key = volume.PublicCoreKey(v.Keys[0])
		default:
			return fmt.Errorf("onchain: cancel volume %s: no order and no key to find it by", v.Hex)
		}
		found, err := s.findOrder(ctx, key[:])
		if errors.Is(err, errNoOrder) {
			return nil // never placed
		}
		if err != nil {
			return fmt.Errorf("onchain: cancel volume %s: %w", v.Hex, err)
		}
		id = found
	}
	// Already ended (cancelled before a crash, or expired): nothing to do.
	if res, err := s.cfg.Chain.Storage().Order(ctx, &storagetypes.QueryOrderRequest{Id: id}); err == nil && res.Order.IsEnded() {
		s.mu.Lock()
		delete(s.orders, v.Hex)
		s.mu.Unlock()
		return nil
	}
	_, err := s.cfg.Chain.SendAndWait(ctx, &storagetypes.MsgCancelOrder{Owner: s.cfg.Chain.Address(), OrderId: id})
	if err != nil {
		return fmt.Errorf("onchain: cancel order %d of volume %s: %w", id, v.Hex, err)
	}
	s.mu.Lock()
	delete(s.orders, v.Hex)
	s.mu.Unlock()
	s.cfg.Log.Info("cancelled the order of a volume", "volume", v.Hex, "order", id)
	return nil
}
