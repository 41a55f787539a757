package chainclient

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	coretypes "github.com/cometbft/cometbft/rpc/core/types"
	rpctypes "github.com/cometbft/cometbft/rpc/jsonrpc/types"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/cosmos/cosmos-sdk/crypto/hd"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	attesttypes "github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

func TestTxHashIsCometBFTs(t *testing.T) {
	raw := []byte("some transaction bytes")
	want := strings.ToUpper(hex.EncodeToString(cmttypes.Tx(raw).Hash()))
	require.Equal(t, want, txHash(raw))
}

func TestEncodingKnowsTheHostersMessages(t *testing.T) {
	enc, err := NewEncoding()
	require.NoError(t, err)
	for _, m := range []sdk.Msg{&storagetypes.MsgCommit{}, &storagetypes.MsgRegisterHoster{}, &attesttypes.MsgSubmitProofs{}, &attesttypes.MsgSubmitAttestation{}} {
		url := sdk.MsgTypeURL(m)
		_, err := enc.Registry.Resolve(url)
		require.NoError(t, err, url)
	}
	// A tx with x/storage and x/attest messages encodes and decodes.
	b := enc.TxConfig.NewTxBuilder()
	require.NoError(t, b.SetMsgs(&storagetypes.MsgCommit{Hoster: "datdot1x", OrderId: 3, Length: 7},
		&attesttypes.MsgSubmitProofs{Hoster: "datdot1x", Answers: []attesttypes.ChallengeAnswer{{ChallengeId: 1, Proofs: [][]byte{{1}}}}}))
	raw, err := enc.TxConfig.TxEncoder()(b.GetTx())
	require.NoError(t, err)
	tx, err := enc.TxConfig.TxDecoder()(raw)
	require.NoError(t, err)
	require.Len(t, tx.GetMsgs(), 2)
	require.Equal(t, uint64(3), tx.GetMsgs()[0].(*storagetypes.MsgCommit).OrderId)
}

func TestBlockTyped(t *testing.T) {
	e1, err := sdk.TypedEventToEvent(&storagetypes.EventAssignmentReplaced{OrderId: 4, OldHoster: "a", NewHoster: "b"})
	require.NoError(t, err)
	e2, err := sdk.TypedEventToEvent(&attesttypes.EventChallengeIssued{ChallengeId: 9, Hoster: "b", Indices: []uint64{1, 5}, DeadlineHeight: 40})
	require.NoError(t, err)
	b := &Block{Height: 3, Events: []abciEvent{abciEvent(e1), {Type: "transfer"}, abciEvent(e2)}}
	ms := b.Typed()
	require.Len(t, ms, 2)
	require.Equal(t, "b", ms[0].(*storagetypes.EventAssignmentReplaced).NewHoster)
	ch := ms[1].(*attesttypes.EventChallengeIssued)
	require.Equal(t, []uint64{1, 5}, ch.Indices)
	require.Equal(t, int64(40), ch.DeadlineHeight)
	// A second reader (the follower's hooks) gets the same messages,
	// decoded once.
	again := b.Typed()
	require.Len(t, again, 2)
	require.Same(t, ms[0], again[0])
	require.Same(t, ms[1], again[1])
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, err := New(context.Background(), Config{})
	require.ErrorContains(t, err, "required")
	_, err = New(context.Background(), Config{GRPC: "127.0.0.1:1", RPC: "::"})
	require.Error(t, err)
}

// TestSigningKeyReadOnce: the client reads its key from the keyring once
// (a file keyring's read derives a key slowly, three reads per tx were a
// large part of a hoster's CPU) and its signatures are the keyring's.
func TestSigningKeyReadOnce(t *testing.T) {
	dir := t.TempDir()
	enc, err := NewEncoding()
	require.NoError(t, err)
	kr, err := keyring.New(sdk.KeyringServiceName(), keyring.BackendTest, dir, strings.NewReader(""), enc.Codec)
	require.NoError(t, err)
	_, _, err = kr.NewMnemonic("signer", keyring.English, sdk.FullFundraiserPath, keyring.DefaultBIP39Passphrase, hd.Secp256k1)
	require.NoError(t, err)
	c, err := New(context.Background(), Config{GRPC: "127.0.0.1:1", RPC: "http://127.0.0.1:1", ChainID: "test-1",
		KeyringDir: dir, KeyringBackend: keyring.BackendTest, KeyName: "signer"})
	require.NoError(t, err)
	defer c.Close()
	require.NotNil(t, c.priv)
	rec, err := kr.Key("signer")
	require.NoError(t, err)
	pub, err := rec.GetPubKey()
	require.NoError(t, err)
	require.True(t, pub.Equals(c.pub))
	msg := []byte("sign bytes of some transaction")
	got, err := c.priv.Sign(msg)
	require.NoError(t, err)
	want, _, err := kr.Sign("signer", msg, signing.SignMode_SIGN_MODE_DIRECT)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.True(t, pub.VerifySignature(msg, got))
}

// TestDecodeBlockResults: the lean decoder of block_results reads, from
// the answer the node's RPC encodes, the events of the successful txs and
// of the block, as the CometBFT client does; an RPC error is an error.
func TestDecodeBlockResults(t *testing.T) {
	ev := func(typ string, kv ...string) abci.Event {
		e := abci.Event{Type: typ}
		for i := 0; i < len(kv); i += 2 {
			e.Attributes = append(e.Attributes, abci.EventAttribute{Key: kv[i], Value: kv[i+1], Index: i == 0})
		}
		return e
	}
	res := &coretypes.ResultBlockResults{
		Height: 42,
		TxsResults: []*abci.ExecTxResult{
			{Code: 0, Data: []byte{1, 2}, Log: "ok", GasWanted: 10, GasUsed: 9, Events: []abci.Event{ev("transfer", "amount", "5udot"), ev("datdot.storage.v1.EventCommitted", "order_id", `"7"`, "hoster", `"datdot1x"`)}},
			{Code: 5, Codespace: "sdk", Log: "failed", Events: []abci.Event{ev("should.not.appear", "k", "v"), ev("tx", "signature", "c2lnMg==")}},
			{Code: 0, Events: []abci.Event{ev("tx", "acc_seq", "datdot1x/3"), ev("tx", "signature", "c2lnMQ==")}},
			{Code: 0, Events: []abci.Event{ev("message", "action", "/datdot.storage.v1.MsgCommit"), ev("empty")}},
		},
		FinalizeBlockEvents: []abci.Event{ev("datdot.attest.v1.EventChallengeIssued", "id", `"3"`, "hoster", `"datdot1y"`)},
		AppHash:             []byte{9, 9},
	}
	raw, err := json.Marshal(rpctypes.NewRPCSuccessResponse(rpctypes.JSONRPCIntID(-1), res))
	require.NoError(t, err)
	b, err := decodeBlockResults(42, bytes.NewReader(raw))
	require.NoError(t, err)
	want := append(append(append(append([]abci.Event{}, res.TxsResults[0].Events...), res.TxsResults[2].Events...), res.TxsResults[3].Events...), res.FinalizeBlockEvents...)
	require.Equal(t, int64(42), b.Height)
	require.Len(t, b.Events, len(want))
	for i := range want {
		require.Equal(t, want[i].Type, b.Events[i].Type)
		require.Equal(t, len(want[i].Attributes), len(b.Events[i].Attributes), "event %d", i)
		for j := range want[i].Attributes {
			require.Equal(t, want[i].Attributes[j], b.Events[i].Attributes[j])
		}
	}

	// A tx is found by its signature, failed or not, with its outcome.
	tx := b.findTx(Sent{Hash: "H2", sig: "c2lnMg=="})
	require.NotNil(t, tx)
	require.Equal(t, TxResult{Hash: "H2", Height: 42, Code: 5, Codespace: "sdk", Log: "failed", Events: res.TxsResults[1].Events}, *tx)
	tx = b.findTx(Sent{Hash: "H1", sig: "c2lnMQ=="})
	require.NotNil(t, tx)
	require.Equal(t, uint32(0), tx.Code)
	require.Equal(t, res.TxsResults[2].Events, tx.Events)
	require.Nil(t, b.findTx(Sent{Hash: "H3", sig: "c2lnMw=="}))
	require.Nil(t, b.findTx(Sent{Hash: "H4"}), "no signature: not looked for")

	raw, err = json.Marshal(rpctypes.RPCInternalError(rpctypes.JSONRPCIntID(-1), errors.New("height 99 must be less than or equal to the current blockchain height 42")))
	require.NoError(t, err)
	_, err = decodeBlockResults(99, bytes.NewReader(raw))
	require.ErrorContains(t, err, "current blockchain height")
	_, err = decodeBlockResults(1, strings.NewReader("not json"))
	require.Error(t, err)
}

// BenchmarkDecodeBlockResults compares the lean decoder with the CometBFT
// client's for a block of 40 txs (the events a busy block carries).
func BenchmarkDecodeBlockResults(b *testing.B) {
	res := &coretypes.ResultBlockResults{Height: 7}
	for i := range 40 {
		var evs []abci.Event
		for j := range 10 {
			evs = append(evs, abci.Event{Type: fmt.Sprintf("event%d", j), Attributes: []abci.EventAttribute{
				{Key: "sender", Value: "datdot1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", Index: true}, {Key: "amount", Value: fmt.Sprint(i * j), Index: true}, {Key: "msg_index", Value: "0", Index: true}}})
		}
		res.TxsResults = append(res.TxsResults, &abci.ExecTxResult{Code: 0, Data: make([]byte, 64), GasWanted: 200000, GasUsed: 150000, Events: evs})
	}
	raw, err := json.Marshal(rpctypes.NewRPCSuccessResponse(rpctypes.JSONRPCIntID(-1), res))
	require.NoError(b, err)
	b.Run("lean", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for range b.N {
			if _, err := decodeBlockResults(7, bytes.NewReader(raw)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cometbft", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for range b.N {
			var msg rpctypes.RPCResponse
			if err := json.Unmarshal(raw, &msg); err != nil {
				b.Fatal(err)
			}
			var out coretypes.ResultBlockResults
			if err := cmtjson.Unmarshal(msg.Result, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRecentBlocks: a block asked for by several callers at once is read
// once and then served from memory; a failed read is not kept (the next
// caller reads again); only the last keepBlocks blocks are kept.
func TestRecentBlocks(t *testing.T) {
	var r recentBlocks
	var mu sync.Mutex
	reads := map[int64]int{}
	release := make(chan struct{})
	fail := true
	read := func(ctx context.Context, h int64) (*Block, error) {
		mu.Lock()
		reads[h]++
		f := fail && h == 7
		mu.Unlock()
		if h == 5 {
			<-release
		}
		if f {
			return nil, errors.New("results not yet there")
		}
		return &Block{Height: h}, nil
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	got := make([]*Block, 4)
	for i := range got {
		wg.Go(func() {
			b, err := r.get(ctx, 5, read)
			assert.NoError(t, err)
			got[i] = b
		})
	}
	// Let every caller arrive, then let the one read finish.
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return reads[5] == 1 }, time.Minute, time.Millisecond)
	close(release)
	wg.Wait()
	for _, b := range got {
		require.Same(t, got[0], b)
	}
	require.Equal(t, 1, reads[5])

	_, err := r.get(ctx, 7, read)
	require.Error(t, err)
	mu.Lock()
	fail = false
	mu.Unlock()
	b, err := r.get(ctx, 7, read)
	require.NoError(t, err)
	require.Equal(t, int64(7), b.Height)
	require.Equal(t, 2, reads[7])

	for h := int64(100); h < 100+2*keepBlocks; h++ {
		_, err := r.get(ctx, h, read)
		require.NoError(t, err)
	}
	require.Len(t, r.blocks, keepBlocks)
	_, err = r.get(ctx, 100+2*keepBlocks-1, read)
	require.NoError(t, err)
	require.Equal(t, 1, reads[100+2*keepBlocks-1], "a kept block is not read again")
	_, err = r.get(ctx, 100, read)
	require.NoError(t, err)
	require.Equal(t, 2, reads[100], "an old block was dropped")
}
