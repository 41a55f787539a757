package chainclient

import (
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cosmos/gogoproto/proto"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"

	attesttypes "github.com/datdot/datdot/x/attest/types"
)

// Gas reuse. Simulating a tx costs the node a full execution of it (for
// a hoster's proof answers: decoding and verifying every proof) plus
// decoding the tx from the request. For the message types listed in
// gasUnits the gas a tx uses is, to a close bound, linear in the
// messages' size and in a count of per-item work:
//
//	gas = a + b·size + c·units,   a, b, c ≥ 0
//
// (the ante handler's per-byte tx size cost and x/attest's
// gas_per_proof_byte are the b term; the per-answer state reads and
// writes the c term; signature checks and the fee the a term). So once a
// tx of that shape has been simulated, scaling its gas by
// max(1, size'/size, units'/units) bounds the gas of a later one from
// above; the usual adjustment and margin are then added as for a
// simulated tx. A reference is re-simulated after gasRefUses uses or
// gasRefAge, so a change of the chain's params is picked up.
//
// If a tx still runs out of gas (the chain's costs changed under the
// reference, or an answer takes a costlier path such as a failed proof):
// in CheckTx, Send drops the reference and simulates at once; in the
// block, Wait drops it and returns the *TxError, so the caller's retry
// (SendAndWait retries by itself) is simulated.

const (
	gasRefUses = 64
	gasRefAge  = 5 * time.Minute
)

// defaultGasUnits maps the message types whose gas may be estimated to
// their count of per-item work.
func defaultGasUnits() map[string]func(sdk.Msg) uint64 {
	return map[string]func(sdk.Msg) uint64{
		sdk.MsgTypeURL(&attesttypes.MsgSubmitProofs{}): func(m sdk.Msg) uint64 {
			return uint64(len(m.(*attesttypes.MsgSubmitProofs).Answers))
		},
	}
}

// gasRef is a simulated tx of one shape.
type gasRef struct {
	gas   uint64 // gas used in the simulation
	size  uint64 // proto size of its messages
	units uint64
	uses  int
	at    time.Time
}

type gasModel struct {
	// units is the table of message types whose gas may be estimated
	// (read-only once the client is made).
	units map[string]func(sdk.Msg) uint64

	mu   sync.Mutex
	refs map[string]*gasRef
	// simulations counts the txs simulated.
	simulations int
}

// shape returns the key, size and units of msgs, ok false when their gas
// must be simulated.
func (g *gasModel) shape(msgs []sdk.Msg) (key string, size, units uint64, ok bool) {
	if len(msgs) == 0 {
		return "", 0, 0, false
	}
	urls := make([]string, len(msgs))
	for i, m := range msgs {
		f, known := g.units[sdk.MsgTypeURL(m)]
		if !known {
			return "", 0, 0, false
		}
		urls[i] = sdk.MsgTypeURL(m)
		size += uint64(proto.Size(m))
		units += f(m)
	}
	sort.Strings(urls)
	return strings.Join(urls, ","), max(size, 1), max(units, 1), true
}

// estimate returns the gas used that the reference of key bounds for a
// tx of size and units, ok false when there is no usable reference.
func (g *gasModel) estimate(key string, size, units uint64, now time.Time) (uint64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.refs[key]
	if r == nil || r.uses >= gasRefUses || now.Sub(r.at) >= gasRefAge {
		return 0, false
	}
	r.uses++
	f := max(1, float64(size)/float64(r.size), float64(units)/float64(r.units))
	return uint64(math.Ceil(float64(r.gas) * f)), true
}

// learn records a simulation of a tx of key, size and units.
func (g *gasModel) learn(key string, size, units, gas uint64, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refs == nil {
		g.refs = map[string]*gasRef{}
	}
	g.refs[key] = &gasRef{gas: gas, size: size, units: units, at: now}
}

// simulated counts a simulation.
func (g *gasModel) simulated() {
	g.mu.Lock()
	g.simulations++
	g.mu.Unlock()
}

// forget drops the reference of key ("": all of them).
func (g *gasModel) forget(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if key == "" {
		clear(g.refs)
		return
	}
	delete(g.refs, key)
}

// isOutOfGas reports whether a CheckTx or tx result is the SDK's out of
// gas.
func isOutOfGas(codespace string, code uint32) bool {
	return codespace == sdkerrors.RootCodespace && code == sdkerrors.ErrOutOfGas.ABCICode()
}
