package chain

import (
	"encoding/json"
	"os"
	"testing"
)

func TestDevnetEntries(t *testing.T) {
	r, a, err := Devnet("http://127.0.0.1:1", "http://127.0.0.1:2", "127.0.0.1:3", "http://127.0.0.1:4")
	if err != nil {
		t.Fatal(err)
	}
	if r.ChainID != "datdot-devnet" || r.Bech32Prefix != "datdot" || r.Slip44 != 118 || r.Fees.FeeTokens[0].Denom != "udot" {
		t.Fatalf("chain.json: %+v", r)
	}
	if r.APIs.RPC[0].Address != "http://127.0.0.1:1" || r.APIs.REST[0].Address != "http://127.0.0.1:2" || r.APIs.GRPC[0].Address != "127.0.0.1:3" || r.Explorers[0].URL != "http://127.0.0.1:4" {
		t.Fatalf("endpoints not replaced: %+v", r.APIs)
	}
	if len(a.Assets) != 1 || a.Assets[0].Base != r.Fees.FeeTokens[0].Denom || a.ChainName != r.ChainName {
		t.Fatalf("assetlist: %+v", a)
	}
	k, err := Keplr(r, a)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(k)
	var kk struct {
		ChainID       string `json:"chainId"`
		RPC           string `json:"rpc"`
		Bech32Config  map[string]string
		Currencies    []KeplrCurrency
		FeeCurrencies []KeplrCurrency
	}
	if err := json.Unmarshal(out, &kk); err != nil {
		t.Fatal(err)
	}
	if kk.ChainID != r.ChainID || kk.RPC != "http://127.0.0.1:1" || kk.Bech32Config["bech32PrefixValAddr"] != "datdotvaloper" {
		t.Fatalf("keplr: %s", out)
	}
	if c := kk.Currencies[0]; c.CoinMinimalDenom != "udot" || c.CoinDecimals != 6 || c.CoinDenom != "DOT" {
		t.Fatalf("currency %+v", c)
	}
	if g := kk.FeeCurrencies[0].GasPriceStep; g == nil || g.Low != 0.001 || g.Average <= g.Low || g.High <= g.Average {
		t.Fatalf("gas price step %+v", g)
	}
	// An entry without assets cannot make a Keplr chain info.
	if _, err := Keplr(r, AssetList{}); err == nil {
		t.Fatal("no error without assets")
	}
}

// The committed files are valid JSON with the chain-registry required keys.
func TestRegistryFilesParse(t *testing.T) {
	for _, f := range []string{"devnet/chain.json", "devnet/assetlist.json"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if m["chain_name"] != "datdotdevnet" {
			t.Fatalf("%s: chain_name %v", f, m["chain_name"])
		}
	}
}
