// Package cli holds the x/storage tx commands that AutoCLI cannot build:
// place-order and extend-order read their cores from JSON.
package cli

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/client/tx"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// Flag names of place-order and extend-order.
const (
	FlagReplicas = "replicas"
	FlagErasure  = "erasure"
	FlagMaxPrice = "max-price"
	FlagDuration = "duration"
	FlagDeposit  = "deposit"
	// FlagPeers lists replication addresses (host:port) the hosters fetch
	// the cores from (a replicated-core order).
	FlagPeers       = "peers"
	FlagExtraEpochs = "extra-epochs"
	FlagTopUp       = "top-up"
)

// NewTxCmd returns the storage tx command with the hand-written
// subcommands; AutoCLI adds the generated ones.
func NewTxCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:                        types.ModuleName,
		Short:                      "Storage transactions: hosters, orders, commitments, payments",
		DisableFlagParsing:         true,
		SuggestionsMinimumDistance: 2,
		RunE:                       client.ValidateCmd,
	}
	cmd.AddCommand(NewPlaceOrderCmd(), NewExtendOrderCmd())
	return cmd
}

// CoreJSON is a core as printed by `datdot core info`: bytes as hex strings,
// numbers as JSON numbers or decimal strings.
type CoreJSON struct {
	Key        string      `json:"key"`
	Manifest   string      `json:"manifest"`
	Length     json.Number `json:"length"`
	Fork       json.Number `json:"fork"`
	TreeHash   string      `json:"tree_hash"`
	Signature  string      `json:"signature"`
	ByteLength json.Number `json:"byte_length"`
	Roots      []RootJSON  `json:"roots"`
}

// RootJSON is one merkle root of a core at its length, as `datdot core info`
// prints it: flat-tree index, bytes below it and hash (hex).
type RootJSON struct {
	Index json.Number `json:"index"`
	Size  json.Number `json:"size"`
	Hash  string      `json:"hash"`
}

// ParseCores reads one core object, an array of them, or a stream of
// objects (for example one per line), and converts them to types.Core.
func ParseCores(r io.Reader) ([]types.Core, error) {
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("no cores given")
	}
	var items []CoreJSON
	if data[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&items); err != nil {
			return nil, fmt.Errorf("parsing cores: %w", err)
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			var c CoreJSON
			err := dec.Decode(&c)
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("parsing core %d: %w", len(items), err)
			}
			items = append(items, c)
		}
	}
	cores := make([]types.Core, 0, len(items))
	for i, it := range items {
		c, err := it.toCore()
		if err != nil {
			return nil, fmt.Errorf("core %d: %w", i, err)
		}
		cores = append(cores, c)
	}
	return cores, nil
}

func (c CoreJSON) toCore() (types.Core, error) {
	var out types.Core
	var err error
	if out.Key, err = hexField("key", c.Key, true); err != nil {
		return out, err
	}
	if out.Manifest, err = hexField("manifest", c.Manifest, false); err != nil {
		return out, err
	}
	if out.TreeHash, err = hexField("tree_hash", c.TreeHash, true); err != nil {
		return out, err
	}
	if out.Signature, err = hexField("signature", c.Signature, true); err != nil {
		return out, err
	}
	if out.Length, err = numField("length", c.Length, true); err != nil {
		return out, err
	}
	if out.Fork, err = numField("fork", c.Fork, false); err != nil {
		return out, err
	}
	// byte_length is optional: the chain derives it from the roots (and
	// refuses a declared one that differs).
	if out.ByteLength, err = numField("byte_length", c.ByteLength, false); err != nil {
		return out, err
	}
	if len(c.Roots) == 0 {
		return out, fmt.Errorf("roots are missing (print the core with a current `datdot core info`)")
	}
	for i, r := range c.Roots {
		var root types.MerkleRoot
		if root.Index, err = numField(fmt.Sprintf("roots[%d].index", i), r.Index, true); err != nil {
			return out, err
		}
		if root.SizeBytes, err = numField(fmt.Sprintf("roots[%d].size", i), r.Size, true); err != nil {
			return out, err
		}
		if root.Hash, err = hexField(fmt.Sprintf("roots[%d].hash", i), r.Hash, true); err != nil {
			return out, err
		}
		out.Roots = append(out.Roots, root)
	}
	return out, nil
}

func hexField(name, s string, required bool) ([]byte, error) {
	if s == "" {
		if required {
			return nil, fmt.Errorf("%s is missing", name)
		}
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not hex: %w", name, err)
	}
	return b, nil
}

func numField(name string, n json.Number, required bool) (uint64, error) {
	if n == "" {
		if required {
			return 0, fmt.Errorf("%s is missing", name)
		}
		return 0, nil
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

func readCores(cmd *cobra.Command, arg string) ([]types.Core, error) {
	if arg == "-" {
		return ParseCores(cmd.InOrStdin())
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseCores(f)
}

// ParseErasure parses "k,n".
func ParseErasure(s string) (uint32, uint32, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return 0, 0, fmt.Errorf("--%s wants k,n (for example 4,6), got %q", FlagErasure, s)
	}
	k, err := strconv.ParseUint(strings.TrimSpace(parts[0]), 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("--%s k: %w", FlagErasure, err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(parts[1]), 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("--%s n: %w", FlagErasure, err)
	}
	return uint32(k), uint32(n), nil
}

// NewPlaceOrderCmd returns `tx storage place-order`.
func NewPlaceOrderCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "place-order [cores.json|-]",
		Short: "Place a storage order for the cores in a JSON file (as printed by `datdot core info`)",
		Long: `Place a storage order. The file (or stdin with -) holds one core object, an
array of them, or one object per line, with the fields "key", "manifest",
"length", "fork", "tree_hash", "signature" and "byte_length" (bytes as hex).
Give either --replicas R (every core kept by R hosters) or --erasure k,n
(n cores, one hoster each). The deposit must cover max-price per GiB per
epoch for every slot for the whole duration.`,
		Example: "place-order core.json --replicas 3 --max-price 100 --duration 50 --deposit 15000stake --from alice",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			clientCtx, err := client.GetClientTxContext(cmd)
			if err != nil {
				return err
			}
			cores, err := readCores(cmd, args[0])
			if err != nil {
				return err
			}
			msg := &types.MsgPlaceOrder{Owner: clientCtx.GetFromAddress().String(), Cores: cores}
			if msg.Replicas, err = cmd.Flags().GetUint32(FlagReplicas); err != nil {
				return err
			}
			if e, _ := cmd.Flags().GetString(FlagErasure); e != "" {
				if msg.ErasureK, msg.ErasureN, err = ParseErasure(e); err != nil {
					return err
				}
			}
			mp, _ := cmd.Flags().GetString(FlagMaxPrice)
			var ok bool
			if msg.MaxPrice, ok = math.NewIntFromString(mp); !ok {
				return fmt.Errorf("--%s must be an integer amount per GiB per epoch, got %q", FlagMaxPrice, mp)
			}
			if msg.DurationEpochs, err = cmd.Flags().GetUint64(FlagDuration); err != nil {
				return err
			}
			dep, _ := cmd.Flags().GetString(FlagDeposit)
			if msg.Deposit, err = sdk.ParseCoinNormalized(dep); err != nil {
				return fmt.Errorf("--%s: %w", FlagDeposit, err)
			}
			if msg.Peers, err = cmd.Flags().GetStringSlice(FlagPeers); err != nil {
				return err
			}
			return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msg)
		},
	}
	cmd.Flags().Uint32(FlagReplicas, 0, "replicas per core (replicated order)")
	cmd.Flags().String(FlagErasure, "", "k,n for an erasure-coded volume of n cores")
	cmd.Flags().String(FlagMaxPrice, "", "highest price per GiB per epoch accepted (integer, in the module denom)")
	cmd.Flags().Uint64(FlagDuration, 0, "duration in epochs")
	cmd.Flags().String(FlagDeposit, "", "escrow deposit, e.g. 15000stake")
	cmd.Flags().StringSlice(FlagPeers, nil, "host:port addresses serving the cores over the Hypercore replication protocol; the hosters fetch from them (a replicated-core order)")
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}

// NewExtendOrderCmd returns `tx storage extend-order`.
func NewExtendOrderCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "extend-order [order-id] [cores.json|-]",
		Short: "Move an order's cores to new signed lengths, add epochs, top up escrow",
		Long: `Extend an order. The optional file (or stdin with -) holds cores in the
place-order format; they are matched to the order's cores by key and must be
longer than now. --extra-epochs lengthens the order; --top-up adds escrow,
which must cover the remaining epochs at the order's max price.`,
		Example: "extend-order 1 core.json --top-up 5000stake --from alice",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			clientCtx, err := client.GetClientTxContext(cmd)
			if err != nil {
				return err
			}
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("order id: %w", err)
			}
			msg := &types.MsgExtendOrder{Owner: clientCtx.GetFromAddress().String(), OrderId: id}
			if len(args) == 2 {
				if msg.Cores, err = readCores(cmd, args[1]); err != nil {
					return err
				}
			}
			if msg.ExtraEpochs, err = cmd.Flags().GetUint64(FlagExtraEpochs); err != nil {
				return err
			}
			if s, _ := cmd.Flags().GetString(FlagTopUp); s != "" {
				if msg.TopUp, err = sdk.ParseCoinNormalized(s); err != nil {
					return fmt.Errorf("--%s: %w", FlagTopUp, err)
				}
			}
			return tx.GenerateOrBroadcastTxCLI(clientCtx, cmd.Flags(), msg)
		},
	}
	cmd.Flags().Uint64(FlagExtraEpochs, 0, "epochs to add to the order")
	cmd.Flags().String(FlagTopUp, "", "escrow to add, e.g. 5000stake")
	flags.AddTxFlagsToCmd(cmd)
	return cmd
}
