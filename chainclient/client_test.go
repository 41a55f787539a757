package chainclient

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/cosmos/cosmos-sdk/crypto/hd"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
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
