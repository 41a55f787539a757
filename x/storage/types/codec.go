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
	legacy.RegisterAminoMsg(cdc, &MsgRegisterHoster{}, "datdot/storage/MsgRegisterHoster")
	legacy.RegisterAminoMsg(cdc, &MsgUpdateHoster{}, "datdot/storage/MsgUpdateHoster")
	legacy.RegisterAminoMsg(cdc, &MsgAddStake{}, "datdot/storage/MsgAddStake")
	legacy.RegisterAminoMsg(cdc, &MsgLeave{}, "datdot/storage/MsgLeave")
	legacy.RegisterAminoMsg(cdc, &MsgWithdrawStake{}, "datdot/storage/MsgWithdrawStake")
	legacy.RegisterAminoMsg(cdc, &MsgPlaceOrder{}, "datdot/storage/MsgPlaceOrder")
	legacy.RegisterAminoMsg(cdc, &MsgExtendOrder{}, "datdot/storage/MsgExtendOrder")
	legacy.RegisterAminoMsg(cdc, &MsgCancelOrder{}, "datdot/storage/MsgCancelOrder")
	legacy.RegisterAminoMsg(cdc, &MsgCommit{}, "datdot/storage/MsgCommit")
	legacy.RegisterAminoMsg(cdc, &MsgClaimPayment{}, "datdot/storage/MsgClaimPayment")
	legacy.RegisterAminoMsg(cdc, &MsgUpdateParams{}, "datdot/storage/MsgUpdateParams")
	cdc.RegisterConcrete(Params{}, "datdot/storage/Params", nil)
}

// RegisterInterfaces registers the module's messages and Msg service.
func RegisterInterfaces(registry cdctypes.InterfaceRegistry) {
	registry.RegisterImplementations((*sdk.Msg)(nil),
		&MsgRegisterHoster{},
		&MsgUpdateHoster{},
		&MsgAddStake{},
		&MsgLeave{},
		&MsgWithdrawStake{},
		&MsgPlaceOrder{},
		&MsgExtendOrder{},
		&MsgCancelOrder{},
		&MsgCommit{},
		&MsgClaimPayment{},
		&MsgUpdateParams{},
	)
	msgservice.RegisterMsgServiceDesc(registry, &_Msg_serviceDesc)
}
