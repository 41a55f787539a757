package app

import (
	"fmt"

	"github.com/cosmos/gogoproto/proto"

	"cosmossdk.io/core/address"
	"github.com/cosmos/cosmos-sdk/x/tx/signing"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/codec"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	"github.com/cosmos/cosmos-sdk/std"
	authcodec "github.com/cosmos/cosmos-sdk/x/auth/codec"
	authtx "github.com/cosmos/cosmos-sdk/x/auth/tx"
)

// EncodingConfig bundles the codecs the app, the CLI and the tests share.
type EncodingConfig struct {
	InterfaceRegistry codectypes.InterfaceRegistry
	Codec             codec.Codec
	TxConfig          client.TxConfig
	Amino             *codec.LegacyAmino

	AddressCodec          address.Codec
	ValidatorAddressCodec address.Codec
	ConsensusAddressCodec address.Codec
}

// NewEncodingConfig builds the interface registry (with DatDot's bech32
// address codecs for signer extraction), the protobuf codec and the tx config.
// Module interfaces are registered later by the module manager.
func NewEncodingConfig() (EncodingConfig, error) {
	ac := authcodec.NewBech32Codec(Bech32Prefix)
	vc := authcodec.NewBech32Codec(Bech32PrefixValAddr)
	cc := authcodec.NewBech32Codec(Bech32PrefixConsAddr)

	registry, err := codectypes.NewInterfaceRegistryWithOptions(codectypes.InterfaceRegistryOptions{
		ProtoFiles: proto.HybridResolver,
		SigningOptions: signing.Options{
			AddressCodec:          ac,
			ValidatorAddressCodec: vc,
		},
	})
	if err != nil {
		return EncodingConfig{}, fmt.Errorf("interface registry: %w", err)
	}
	std.RegisterInterfaces(registry)

	amino := codec.NewLegacyAmino()
	std.RegisterLegacyAminoCodec(amino)

	cdc := codec.NewProtoCodec(registry)
	return EncodingConfig{
		InterfaceRegistry:     registry,
		Codec:                 cdc,
		TxConfig:              authtx.NewTxConfig(cdc, authtx.DefaultSignModes),
		Amino:                 amino,
		AddressCodec:          ac,
		ValidatorAddressCodec: vc,
		ConsensusAddressCodec: cc,
	}, nil
}
