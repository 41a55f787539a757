package chainclient

import (
	"cosmossdk.io/core/address"
	"github.com/cosmos/cosmos-sdk/x/tx/signing"
)

func signingOptions(ac, vc address.Codec) signing.Options {
	return signing.Options{AddressCodec: ac, ValidatorAddressCodec: vc}
}
