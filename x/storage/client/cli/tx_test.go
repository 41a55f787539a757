package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	sdk "github.com/cosmos/cosmos-sdk/types"
	moduletestutil "github.com/cosmos/cosmos-sdk/types/module/testutil"

	"github.com/datdot/datdot/x/storage"
	"github.com/datdot/datdot/x/storage/client/cli"
	"github.com/datdot/datdot/x/storage/types"
)

const coreJSON = `{"key":"` + hex32a + `","manifest":"0100","length":3,"fork":0,
 "tree_hash":"` + hex32b + `","signature":"abcd","byte_length":"1234","discovery_key":"ignored",
 "roots":[{"index":1,"size":1000,"hash":"` + hex32a + `"},{"index":4,"size":"234","hash":"` + hex32b + `"}]}`

const (
	hex32a = "0101010101010101010101010101010101010101010101010101010101010101"
	hex32b = "0202020202020202020202020202020202020202020202020202020202020202"
)

func TestParseCores(t *testing.T) {
	one, err := cli.ParseCores(strings.NewReader(coreJSON))
	require.NoError(t, err)
	require.Len(t, one, 1)
	c := one[0]
	require.Equal(t, bytes.Repeat([]byte{1}, 32), c.Key)
	require.Equal(t, []byte{1, 0}, c.Manifest)
	require.Equal(t, uint64(3), c.Length)
	require.Equal(t, uint64(1234), c.ByteLength)
	require.Equal(t, []byte{0xab, 0xcd}, c.Signature)
	require.Equal(t, []types.MerkleRoot{{Index: 1, SizeBytes: 1000, Hash: bytes.Repeat([]byte{1}, 32)},
		{Index: 4, SizeBytes: 234, Hash: bytes.Repeat([]byte{2}, 32)}}, c.Roots)
	noLen, err := cli.ParseCores(strings.NewReader(strings.Replace(coreJSON, `"byte_length":"1234",`, "", 1)))
	require.NoError(t, err, "byte_length is optional: the chain derives it from the roots")
	require.Zero(t, noLen[0].ByteLength)

	arr, err := cli.ParseCores(strings.NewReader("[" + coreJSON + "," + coreJSON + "]"))
	require.NoError(t, err)
	require.Len(t, arr, 2)
	lines, err := cli.ParseCores(strings.NewReader(coreJSON + "\n" + coreJSON + "\n" + coreJSON))
	require.NoError(t, err)
	require.Len(t, lines, 3)

	for name, in := range map[string]string{
		"empty":           "",
		"bad hex":         strings.Replace(coreJSON, hex32a, "zz", 1),
		"missing key":     strings.Replace(coreJSON, `"key":"`+hex32a+`",`, "", 1),
		"missing length":  strings.Replace(coreJSON, `"length":3,`, "", 1),
		"negative length": strings.Replace(coreJSON, `"length":3`, `"length":-3`, 1),
		"not json":        "key=abc",
		"missing roots":   strings.Replace(coreJSON, `"roots":[`, `"other":[`, 1),
		"bad root hash":   strings.Replace(coreJSON, `"hash":"`+hex32b, `"hash":"zz`, 1),
		"bad root size":   strings.Replace(coreJSON, `"size":"234"`, `"size":"x"`, 1),
	} {
		_, err := cli.ParseCores(strings.NewReader(in))
		require.Error(t, err, name)
	}
}

func TestParseErasure(t *testing.T) {
	k, n, err := cli.ParseErasure("4, 6")
	require.NoError(t, err)
	require.Equal(t, [2]uint32{4, 6}, [2]uint32{k, n})
	for _, bad := range []string{"4", "4,6,8", "a,6", "4,-1"} {
		_, _, err := cli.ParseErasure(bad)
		require.Error(t, err, bad)
	}
}

// The place-order command builds the message the chain expects: run it with
// --generate-only and decode the unsigned tx it prints.
func TestPlaceOrderCommandGeneratesMsg(t *testing.T) {
	enc := moduletestutil.MakeTestEncodingConfig(storage.AppModule{})
	dir := t.TempDir()
	file := filepath.Join(dir, "core.json")
	require.NoError(t, os.WriteFile(file, []byte(coreJSON), 0o600))
	from := sdk.AccAddress(bytes.Repeat([]byte{7}, 20))

	var out bytes.Buffer
	clientCtx := client.Context{}.
		WithCodec(enc.Codec).WithInterfaceRegistry(enc.InterfaceRegistry).WithTxConfig(enc.TxConfig).
		WithKeyring(keyring.NewInMemory(enc.Codec)).WithOutput(&out).WithChainID("test")
	cmd := cli.NewPlaceOrderCmd()
	ctx := context.WithValue(context.Background(), client.ClientContextKey, &clientCtx)
	cmd.SetContext(ctx)
	cmd.SetArgs([]string{file, "--replicas", "3", "--max-price", "100", "--duration", "50", "--deposit", "15000stake",
		"--" + flags.FlagFrom, from.String(), "--" + flags.FlagGenerateOnly, "--" + flags.FlagChainID, "test"})
	cmd.SetOut(&out)
	require.NoError(t, cmd.Execute())

	tx, err := enc.TxConfig.TxJSONDecoder()(out.Bytes())
	require.NoError(t, err, out.String())
	msgs := tx.GetMsgs()
	require.Len(t, msgs, 1)
	m, ok := msgs[0].(*types.MsgPlaceOrder)
	require.True(t, ok)
	require.Equal(t, from.String(), m.Owner)
	require.Equal(t, uint32(3), m.Replicas)
	require.Equal(t, "100", m.MaxPrice.String())
	require.Equal(t, uint64(50), m.DurationEpochs)
	require.Equal(t, "15000stake", m.Deposit.String())
	require.Len(t, m.Cores, 1)
	require.Equal(t, uint64(1234), m.Cores[0].ByteLength)
	var asJSON map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &asJSON))
}
