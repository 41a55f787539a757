// Package chain holds DatDot's chain-registry style descriptions of its
// networks (chain.json, assetlist.json in the format of the Cosmos chain
// registry) and derives from them the chain-info object that Keplr's
// experimentalSuggestChain takes, with the endpoints of a running network.
package chain

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:embed devnet/chain.json
var devnetChain []byte

//go:embed devnet/assetlist.json
var devnetAssets []byte

// Registry is the part of chain.json that wallets and explorers read.
type Registry struct {
	Schema       string   `json:"$schema,omitempty"`
	ChainName    string   `json:"chain_name"`
	ChainType    string   `json:"chain_type"`
	Status       string   `json:"status"`
	NetworkType  string   `json:"network_type"`
	PrettyName   string   `json:"pretty_name"`
	Website      string   `json:"website,omitempty"`
	ChainID      string   `json:"chain_id"`
	Bech32Prefix string   `json:"bech32_prefix"`
	DaemonName   string   `json:"daemon_name"`
	NodeHome     string   `json:"node_home"`
	KeyAlgos     []string `json:"key_algos"`
	Slip44       int      `json:"slip44"`
	Fees         struct {
		FeeTokens []FeeToken `json:"fee_tokens"`
	} `json:"fees"`
	Staking struct {
		StakingTokens []struct {
			Denom string `json:"denom"`
		} `json:"staking_tokens"`
	} `json:"staking"`
	Codebase  json.RawMessage `json:"codebase,omitempty"`
	APIs      APIs            `json:"apis"`
	Explorers []Explorer      `json:"explorers,omitempty"`
}

// FeeToken is one fee denom with its gas prices.
type FeeToken struct {
	Denom            string  `json:"denom"`
	FixedMinGasPrice float64 `json:"fixed_min_gas_price"`
	LowGasPrice      float64 `json:"low_gas_price"`
	AverageGasPrice  float64 `json:"average_gas_price"`
	HighGasPrice     float64 `json:"high_gas_price"`
}

// APIs are a network's public endpoints.
type APIs struct {
	RPC  []Endpoint `json:"rpc"`
	REST []Endpoint `json:"rest"`
	GRPC []Endpoint `json:"grpc"`
}

// Endpoint is one address of an API.
type Endpoint struct {
	Address  string `json:"address"`
	Provider string `json:"provider,omitempty"`
}

// Explorer is a block explorer of the network.
type Explorer struct {
	Kind string `json:"kind"`
	URL  string `json:"url"`
}

// AssetList is assetlist.json.
type AssetList struct {
	Schema    string  `json:"$schema,omitempty"`
	ChainName string  `json:"chain_name"`
	Assets    []Asset `json:"assets"`
}

// Asset is one token of the network.
type Asset struct {
	Description string      `json:"description"`
	DenomUnits  []DenomUnit `json:"denom_units"`
	TypeAsset   string      `json:"type_asset"`
	Base        string      `json:"base"`
	Name        string      `json:"name"`
	Display     string      `json:"display"`
	Symbol      string      `json:"symbol"`
}

// DenomUnit is one unit of an asset.
type DenomUnit struct {
	Denom    string `json:"denom"`
	Exponent int    `json:"exponent"`
}

// Devnet returns the devnet's registry entries with the given endpoints
// (rpc and rest as URLs, grpc as host:port, explorer as the dashboard URL).
func Devnet(rpc, rest, grpc, explorer string) (Registry, AssetList, error) {
	var r Registry
	var a AssetList
	if err := json.Unmarshal(devnetChain, &r); err != nil {
		return r, a, fmt.Errorf("chain: devnet/chain.json: %w", err)
	}
	if err := json.Unmarshal(devnetAssets, &a); err != nil {
		return r, a, fmt.Errorf("chain: devnet/assetlist.json: %w", err)
	}
	provider := "datdot devnet"
	r.APIs = APIs{
		RPC:  []Endpoint{{Address: rpc, Provider: provider}},
		REST: []Endpoint{{Address: rest, Provider: provider}},
		GRPC: []Endpoint{{Address: grpc, Provider: provider}},
	}
	r.Website = explorer
	r.Explorers = []Explorer{{Kind: "datdot-dashboard", URL: explorer}}
	return r, a, nil
}

// KeplrCurrency is a currency of Keplr's chain info.
type KeplrCurrency struct {
	CoinDenom        string        `json:"coinDenom"`
	CoinMinimalDenom string        `json:"coinMinimalDenom"`
	CoinDecimals     int           `json:"coinDecimals"`
	GasPriceStep     *GasPriceStep `json:"gasPriceStep,omitempty"`
}

// GasPriceStep are Keplr's low/average/high gas prices.
type GasPriceStep struct {
	Low     float64 `json:"low"`
	Average float64 `json:"average"`
	High    float64 `json:"high"`
}

// Keplr returns the object to pass to window.keplr.experimentalSuggestChain
// for a network described by r and a.
func Keplr(r Registry, a AssetList) (map[string]any, error) {
	if len(a.Assets) == 0 || len(r.Fees.FeeTokens) == 0 || len(r.APIs.RPC) == 0 || len(r.APIs.REST) == 0 {
		return nil, fmt.Errorf("chain: %s: registry entry lacks assets, fee tokens or endpoints", r.ChainName)
	}
	asset := a.Assets[0]
	decimals := 0
	for _, u := range asset.DenomUnits {
		if u.Denom == asset.Display {
			decimals = u.Exponent
		}
	}
	fee := r.Fees.FeeTokens[0]
	cur := KeplrCurrency{CoinDenom: asset.Symbol, CoinMinimalDenom: asset.Base, CoinDecimals: decimals}
	feeCur := cur
	feeCur.GasPriceStep = &GasPriceStep{Low: fee.LowGasPrice, Average: fee.AverageGasPrice, High: fee.HighGasPrice}
	p := r.Bech32Prefix
	return map[string]any{
		"chainId":   r.ChainID,
		"chainName": r.PrettyName,
		"rpc":       r.APIs.RPC[0].Address,
		"rest":      r.APIs.REST[0].Address,
		"bip44":     map[string]int{"coinType": r.Slip44},
		"bech32Config": map[string]string{
			"bech32PrefixAccAddr":  p,
			"bech32PrefixAccPub":   p + "pub",
			"bech32PrefixValAddr":  p + "valoper",
			"bech32PrefixValPub":   p + "valoperpub",
			"bech32PrefixConsAddr": p + "valcons",
			"bech32PrefixConsPub":  p + "valconspub",
		},
		"currencies":    []KeplrCurrency{cur},
		"feeCurrencies": []KeplrCurrency{feeCur},
		"stakeCurrency": cur,
		"features":      []string{},
	}, nil
}
