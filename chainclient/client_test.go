package chainclient

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	cmttypes "github.com/cometbft/cometbft/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
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
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, err := New(context.Background(), Config{})
	require.ErrorContains(t, err, "required")
	_, err = New(context.Background(), Config{GRPC: "127.0.0.1:1", RPC: "::"})
	require.Error(t, err)
}
