package types

import (
	"github.com/cosmos/cosmos-sdk/codec"
	"github.com/cosmos/cosmos-sdk/codec/legacy"
	cdctypes "github.com/cosmos/cosmos-sdk/codec/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/msgservice"
)

// RegisterLegacyAminoCodec registers the module's messages for amino JSON
// signing (ledger devices).
func RegisterLegacyAminoCodec(cdc *codec.LegacyAmino) {
	legacy.RegisterAminoMsg(cdc, &MsgSubmitProofs{}, "datdot/attest/MsgSubmitProofs")
	legacy.RegisterAminoMsg(cdc, &MsgSubmitAttestation{}, "datdot/attest/MsgSubmitAttestation")
	legacy.RegisterAminoMsg(cdc, &MsgUpdateParams{}, "datdot/attest/MsgUpdateParams")
	cdc.RegisterConcrete(Params{}, "datdot/attest/Params", nil)
}

// RegisterInterfaces registers the module's messages and Msg service.
func RegisterInterfaces(registry cdctypes.InterfaceRegistry) {
	registry.RegisterImplementations((*sdk.Msg)(nil),
		&MsgSubmitProofs{},
		&MsgSubmitAttestation{},
		&MsgUpdateParams{},
	)
	msgservice.RegisterMsgServiceDesc(registry, &_Msg_serviceDesc)
}
