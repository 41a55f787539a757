package chainclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/cosmos/gogoproto/proto"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// Block is what happened at one height: the events of its transactions
// (successful ones; failed txs emit none that matter) and of its
// begin/end block.
type Block struct {
	Height int64
	Events []abci.Event
	// Missing is set when the node no longer has the block's results
	// (pruned): the follower must re-read its state by queries.
	Missing bool

	// txs are the results of every tx of the block, failed ones too, in
	// block order (Wait finds its tx here).
	txs []blockTx

	// typed holds what Typed decoded, once (a block goes to several
	// readers: the follower and its hooks).
	typedOnce sync.Once
	typed     []proto.Message
}

// blockTx is one tx's result in a block.
type blockTx struct {
	code      uint32
	codespace string
	log       string
	events    []abci.Event
}

// findTx returns the result of the tx of s in b (found by the signature
// the SDK's ante handler emits in a "tx" event), nil if b has none.
func (b *Block) findTx(s Sent) *TxResult {
	if s.sig == "" {
		return nil
	}
	for _, tx := range b.txs {
		for _, e := range tx.events {
			if e.Type != sdk.EventTypeTx {
				continue
			}
			for _, a := range e.Attributes {
				if a.Key == sdk.AttributeKeySignature && a.Value == s.sig {
					return &TxResult{Hash: s.Hash, Height: b.Height, Code: tx.code, Codespace: tx.codespace, Log: tx.log, Events: tx.events}
				}
			}
		}
	}
	return nil
}

// Typed returns the block's typed events (proto messages such as
// *storagetypes.EventOrderAssigned); events of unknown types are skipped.
// They are decoded on the first call (Events must not change after it)
// and shared by every caller: read them, do not modify them.
func (b *Block) Typed() []proto.Message {
	b.typedOnce.Do(func() {
		for _, e := range b.Events {
			if proto.MessageType(e.Type) == nil {
				continue
			}
			m, err := sdk.ParseTypedEvent(e)
			if err != nil {
				continue
			}
			b.typed = append(b.typed, m)
		}
	})
	return b.typed
}

// Follow calls fn for every block from height from (at least 1) on, in
// order, as the chain makes them, until ctx ends or fn fails. It learns of
// new blocks from the node's websocket (NewBlockHeader events, whose
// height spares a status query) and, if the websocket is down or has been
// silent for a few poll intervals, by polling the node's status every
// PollInterval; the
// blocks themselves are always read with block_results, so nothing is
// skipped when the websocket drops. A caller that records the last height
// fn finished resumes from the next one after a restart.
func (c *Client) Follow(ctx context.Context, from int64, fn func(context.Context, *Block) error) error {
	if from < 1 {
		from = 1
	}
	wake := c.subscribe(ctx)
	next := from
	tick := time.NewTicker(c.cfg.PollInterval)
	defer tick.Stop()
	// The height a websocket event announced (0: none): no status query
	// is needed for it. While events come, the poll timer asks the node
	// only if none came for a while.
	var announced int64
	lastEvent := time.Time{}
	for {
		var latest int64
		var err error
		if announced >= next {
			latest = announced
		} else {
			if latest, err = c.Height(ctx); err != nil {
				c.log.Warn("chain status", "err", err)
			}
		}
		for ; err == nil && next <= latest; next++ {
			b, err := c.blockAt(ctx, next)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// Results of the newest block can lag its header a moment.
				c.log.Debug("block results", "height", next, "err", err)
				break
			}
			if err := fn(ctx, b); err != nil {
				return err
			}
		}
	wait:
		select {
		case <-ctx.Done():
			return ctx.Err()
		case h := <-wake:
			announced, lastEvent = max(announced, h), time.Now()
		case <-tick.C:
			if time.Since(lastEvent) < 4*c.cfg.PollInterval+2*time.Second && next <= announced+1 {
				goto wait // events are flowing: wait for the next one
			}
		}
	}
}

// blockAt reads the events of height h.
func (c *Client) blockAt(ctx context.Context, h int64) (*Block, error) {
	b, err := c.recent.get(ctx, h, c.blockResults)
	if err != nil {
		// A pruned node answers with an error for old heights; report the
		// gap rather than stalling forever.
		if base, berr := c.baseHeight(ctx); berr == nil && h < base {
			return &Block{Height: h, Missing: true}, nil
		}
		return nil, fmt.Errorf("chainclient: block results %d: %w", h, err)
	}
	return b, nil
}

// blockResults asks the node's RPC for block_results at h and decodes only
// what a Block holds: the events of the successful txs and of the block.
// (The CometBFT client decodes the whole result by reflection and every
// tx result through jsonpb; that was most of what following the chain
// cost a hoster.)
func (c *Client) blockResults(ctx context.Context, h int64) (*Block, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.rpcURL+"/block_results?height="+strconv.FormatInt(h, 10), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.rpcHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return decodeBlockResults(h, io.LimitReader(resp.Body, maxBlockResults))
}

// maxBlockResults bounds a block_results answer.
const maxBlockResults = 256 << 20

type jsonEvent struct {
	Type       string `json:"type"`
	Attributes []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
		Index bool   `json:"index"`
	} `json:"attributes"`
}

func appendEvents(dst []abci.Event, evs []jsonEvent) []abci.Event {
	for _, e := range evs {
		ev := abci.Event{Type: e.Type, Attributes: make([]abci.EventAttribute, len(e.Attributes))}
		for i, a := range e.Attributes {
			ev.Attributes[i] = abci.EventAttribute{Key: a.Key, Value: a.Value, Index: a.Index}
		}
		dst = append(dst, ev)
	}
	return dst
}

// decodeBlockResults decodes a JSON-RPC block_results answer for height h.
func decodeBlockResults(h int64, r io.Reader) (*Block, error) {
	var msg struct {
		Result *struct {
			TxsResults []struct {
				Code      uint32      `json:"code"`
				Codespace string      `json:"codespace"`
				Log       string      `json:"log"`
				Events    []jsonEvent `json:"events"`
			} `json:"txs_results"`
			FinalizeBlockEvents []jsonEvent `json:"finalize_block_events"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    string `json:"data"`
		} `json:"error"`
	}
	if err := json.NewDecoder(r).Decode(&msg); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if msg.Error != nil {
		return nil, fmt.Errorf("RPC error %d: %s %s", msg.Error.Code, msg.Error.Message, msg.Error.Data)
	}
	if msg.Result == nil {
		return nil, errors.New("no result")
	}
	b := &Block{Height: h, txs: make([]blockTx, len(msg.Result.TxsResults))}
	for i, tx := range msg.Result.TxsResults {
		b.txs[i] = blockTx{code: tx.Code, codespace: tx.Codespace, log: tx.Log, events: appendEvents(nil, tx.Events)}
		if tx.Code == 0 {
			b.Events = append(b.Events, b.txs[i].events...)
		}
	}
	b.Events = appendEvents(b.Events, msg.Result.FinalizeBlockEvents)
	return b, nil
}

func (c *Client) baseHeight(ctx context.Context) (int64, error) {
	st, err := c.rpc.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.SyncInfo.EarliestBlockHeight, nil
}

// subscribe returns a channel that receives a value on every new block
// while the websocket works; it (re)connects in the background.
func (c *Client) subscribe(ctx context.Context) <-chan int64 {
	wake := make(chan int64, 1)
	go func() {
		for ctx.Err() == nil {
			if !c.rpc.IsRunning() {
				if err := c.rpc.Start(); err != nil {
					c.log.Debug("websocket start", "err", err)
					if sleep(ctx, 5*c.cfg.PollInterval) != nil {
						return
					}
					continue
				}
			}
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ch, err := c.rpc.Subscribe(sctx, "datdot-chainclient", "tm.event='NewBlockHeader'")
			cancel()
			if err != nil {
				c.log.Debug("websocket subscribe; polling", "err", err)
				if sleep(ctx, 10*c.cfg.PollInterval) != nil {
					return
				}
				continue
			}
			for open := true; open; {
				select {
				case <-ctx.Done():
					uctx, cancel := context.WithTimeout(context.Background(), time.Second)
					_ = c.rpc.UnsubscribeAll(uctx, "datdot-chainclient")
					cancel()
					return
				case ev, ok := <-ch:
					open = ok
					var h int64
					if d, ok := ev.Data.(cmttypes.EventDataNewBlockHeader); ok {
						h = d.Header.Height
					}
					select {
					case wake <- h:
					default:
						// A wake is pending: make it carry the newest height.
						select {
						case old := <-wake:
							h = max(h, old)
						default:
						}
						select {
						case wake <- h:
						default:
						}
					}
				}
			}
			c.log.Debug("websocket closed; polling until it is back")
		}
	}()
	return wake
}

// recentBlocks keeps the last blocks read, so that Follow and Wait on
// one client read each block's results from the node once, and a block
// asked for twice at once is read once.
type recentBlocks struct {
	mu       sync.Mutex
	blocks   map[int64]*Block
	inflight map[int64]chan struct{}
}

// keepBlocks is how many recent blocks are kept.
const keepBlocks = 64

// get returns block h, read with read unless kept or being read.
func (r *recentBlocks) get(ctx context.Context, h int64, read func(context.Context, int64) (*Block, error)) (*Block, error) {
	for {
		r.mu.Lock()
		if b, ok := r.blocks[h]; ok {
			r.mu.Unlock()
			return b, nil
		}
		wait, busy := r.inflight[h]
		if !busy {
			if r.inflight == nil {
				r.inflight, r.blocks = map[int64]chan struct{}{}, map[int64]*Block{}
			}
			done := make(chan struct{})
			r.inflight[h] = done
			r.mu.Unlock()
			b, err := read(ctx, h)
			r.mu.Lock()
			delete(r.inflight, h)
			close(done)
			if err == nil {
				r.blocks[h] = b
				if len(r.blocks) > keepBlocks {
					oldest := h
					for k := range r.blocks {
						oldest = min(oldest, k)
					}
					delete(r.blocks, oldest)
				}
			}
			r.mu.Unlock()
			return b, err
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wait:
			// read again: kept now, or the read failed (try ourselves)
		}
	}
}
