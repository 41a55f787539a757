package storage_test

import (
	"testing"

	"github.com/cosmos/gogoproto/proto"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"

	"cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"
	moduletestutil "github.com/cosmos/cosmos-sdk/types/module/testutil"

	"github.com/datdot/datdot/x/storage"
	"github.com/datdot/datdot/x/storage/types"
)

// AutoCLI resolves services and methods by name through gogoproto's merged
// registry; every name in AutoCLIOptions must exist there.
func TestAutoCLIOptionsNameRealMethods(t *testing.T) {
	files, err := proto.MergedRegistry()
	require.NoError(t, err)
	opts := storage.AppModule{}.AutoCLIOptions()
	for _, svc := range []struct {
		name    string
		methods []string
	}{
		{opts.Query.Service, nil},
		{opts.Tx.Service, nil},
	} {
		d, err := files.FindDescriptorByName(protoreflect.FullName(svc.name))
		require.NoError(t, err, svc.name)
		sd := d.(protoreflect.ServiceDescriptor)
		var rpcs = opts.Query.RpcCommandOptions
		if svc.name == opts.Tx.Service {
			rpcs = opts.Tx.RpcCommandOptions
		}
		for _, r := range rpcs {
			require.NotNil(t, sd.Methods().ByName(protoreflect.Name(r.RpcMethod)), "%s/%s", svc.name, r.RpcMethod)
		}
		require.Equal(t, sd.Methods().Len(), len(rpcs), "every method of %s has CLI options", svc.name)
	}
}

// Every message has a signer the SDK can resolve, and the Msg service has
// the annotations the SDK requires.
func TestMessagesHaveSigners(t *testing.T) {
	enc := moduletestutil.MakeTestEncodingConfig(storage.AppModule{})
	require.NoError(t, enc.InterfaceRegistry.SigningContext().Validate())
	cdc := enc.Codec.(*codec.ProtoCodec)
	addr := sdk.AccAddress([]byte("addr________________"))
	msgs := []sdk.Msg{
		&types.MsgRegisterHoster{Hoster: addr.String(), PricePerGibEpoch: math.ZeroInt()},
		&types.MsgUpdateHoster{Hoster: addr.String()},
		&types.MsgAddStake{Hoster: addr.String()},
		&types.MsgLeave{Hoster: addr.String()},
		&types.MsgWithdrawStake{Hoster: addr.String()},
		&types.MsgPlaceOrder{Owner: addr.String(), MaxPrice: math.ZeroInt()},
		&types.MsgExtendOrder{Owner: addr.String()},
		&types.MsgCancelOrder{Owner: addr.String()},
		&types.MsgCommit{Hoster: addr.String()},
		&types.MsgClaimPayment{Hoster: addr.String()},
		&types.MsgUpdateParams{Authority: addr.String(), Params: types.DefaultParams()},
	}
	for _, m := range msgs {
		signers, _, err := cdc.GetMsgV1Signers(m)
		require.NoError(t, err, "%T", m)
		require.Len(t, signers, 1)
		require.Equal(t, []byte(addr), signers[0], "%T", m)
		// every message round-trips through Any
		_, err = enc.InterfaceRegistry.Resolve(sdk.MsgTypeURL(m))
		require.NoError(t, err)
	}
}

func TestDefaultGenesisJSONRoundTrip(t *testing.T) {
	enc := moduletestutil.MakeTestEncodingConfig(storage.AppModule{})
	m := storage.AppModule{}
	bz := m.DefaultGenesis(enc.Codec)
	require.NoError(t, m.ValidateGenesis(enc.Codec, nil, bz))
	require.Error(t, m.ValidateGenesis(enc.Codec, nil, []byte(`{"params":{"epoch_blocks":"0"}}`)))
}
