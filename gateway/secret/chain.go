package secret

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cosmos/cosmos-sdk/crypto/hd"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"

	"github.com/datdot/datdot/chainclient"
)

// ChainAddress is the bech32 address of the gateway's chain account.
func ChainAddress(master []byte) (string, error) {
	raw, err := hd.Secp256k1.Derive()(ChainMnemonic(master), "", sdk.FullFundraiserPath)
	if err != nil {
		return "", fmt.Errorf("secret: derive chain key: %w", err)
	}
	priv := &secp256k1.PrivKey{Key: raw}
	return sdk.Bech32ifyAddressBytes(chainclient.Bech32Prefix, priv.PubKey().Address())
}

// ImportChainKey puts the gateway's chain account into a keyring under
// name and returns its address. A key of that name that is already the
// derived account is kept; any other key of that name is an error.
func ImportChainKey(dir, backend, name string, master []byte) (string, error) {
	addr, err := ChainAddress(master)
	if err != nil {
		return "", err
	}
	enc, err := chainclient.NewEncoding()
	if err != nil {
		return "", err
	}
	if backend == "" {
		backend = keyring.BackendTest
	}
	kr, err := keyring.New(sdk.KeyringServiceName(), backend, dir, strings.NewReader(""), enc.Codec)
	if err != nil {
		return "", fmt.Errorf("secret: keyring: %w", err)
	}
	if rec, err := kr.Key(name); err == nil {
		a, err := rec.GetAddress()
		if err != nil {
			return "", fmt.Errorf("secret: key %q: %w", name, err)
		}
		got, _ := sdk.Bech32ifyAddressBytes(chainclient.Bech32Prefix, a)
		if got != addr {
			return "", fmt.Errorf("secret: keyring %s already has a key %q (%s) that is not this master secret's account %s", dir, name, got, addr)
		}
		return addr, nil
	} else if !errors.Is(err, sdkerrors.ErrKeyNotFound) {
		return "", fmt.Errorf("secret: key %q: %w", name, err)
	}
	if _, err := kr.NewAccount(name, ChainMnemonic(master), "", sdk.FullFundraiserPath, hd.Secp256k1); err != nil {
		return "", fmt.Errorf("secret: import chain key: %w", err)
	}
	return addr, nil
}
