package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	sdk "github.com/cosmos/cosmos-sdk/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	"github.com/datdot/datdot/app"
	"github.com/datdot/datdot/hypercore"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// workload is one kind of transaction the generator can send.
type workload struct {
	// setup prepares the chain (e.g. registers hosters) before the run.
	setup func(ctx context.Context, b *bench, funder *signer) error
	// build makes the i-th message of a load account.
	build msgBuilder
	// spend is what each transaction moves besides its fee.
	spend sdkmath.Int
}

func workloadFor(kind string) (workload, error) {
	switch kind {
	case "bank":
		// Each account sends 1udot to itself: the cheapest real transfer.
		return workload{
			build: func(from *signer, _ int) (sdk.Msg, uint64, error) {
				return banktypes.NewMsgSend(from.addr, from.addr, sdk.NewCoins(sdk.NewCoin(app.BondDenom, sdkmath.OneInt()))), 120_000, nil
			},
			spend: sdkmath.NewInt(1),
		}, nil
	case "place-order":
		return workload{setup: registerHosters, build: placeOrder, spend: orderDeposit}, nil
	case "proofs":
		return workload{}, errors.New("-msg proofs has its own run (runProofs)")
	default:
		return workload{}, fmt.Errorf("unknown -msg %q (want bank, place-order or proofs)", kind)
	}
}

// Orders of the place-order workload: one fresh 4 KiB core signed by its own
// writer key, 3 replicas, 10 epochs at up to 1000udot per GiB per epoch.
const (
	orderReplicas = 3
	orderDuration = 10
	orderMaxPrice = 1000
	coreBytes     = 4096
)

// orderDeposit covers every slot for the whole duration (each slot's price
// per epoch rounds up to at least 1udot).
var orderDeposit = sdkmath.NewInt(orderReplicas * orderDuration * ((orderMaxPrice*coreBytes + (1<<30 - 1)) / (1 << 30)))

// benchHosters is how many hosters the place-order setup registers.
const benchHosters = 6

// registerHosters registers fresh hosters in three regions so that every
// order finds three distinct ones.
func registerHosters(ctx context.Context, b *bench, funder *signer) error {
	_, err := newHosters(ctx, b, funder)
	return err
}

// newHosters funds and registers benchHosters fresh hosters and returns
// them.
func newHosters(ctx context.Context, b *bench, funder *signer) ([]*signer, error) {
	hosters := make([]*signer, benchHosters)
	outputs := make([]banktypes.Output, benchHosters)
	each := sdk.NewCoins(sdk.NewCoin(app.BondDenom, sdkmath.NewInt(100_000_000)))
	total := sdk.NewCoins()
	for i := range hosters {
		priv := secp256k1.GenPrivKey()
		hosters[i] = &signer{priv: priv, addr: sdk.AccAddress(priv.PubKey().Address())}
		outputs[i] = banktypes.NewOutput(hosters[i].addr, each)
		total = total.Add(each...)
	}
	if err := b.refresh(ctx, funder); err != nil {
		return nil, err
	}
	if err := b.deliver(ctx, funder, banktypes.NewMsgMultiSend(banktypes.NewInput(funder.addr, total), outputs), 400_000); err != nil {
		return nil, fmt.Errorf("fund hosters: %w", err)
	}
	regions := []string{"eu-west", "us-east", "ap-south"}
	for i, h := range hosters {
		if err := b.refresh(ctx, h); err != nil {
			return nil, err
		}
		msg := &storagetypes.MsgRegisterHoster{
			Hoster:           h.addr.String(),
			Stake:            sdk.NewCoin(app.BondDenom, sdkmath.NewInt(10_000_000)),
			Capacity:         1 << 40,
			Endpoint:         fmt.Sprintf("http://127.0.0.1:%d", 19000+i),
			Region:           regions[i%len(regions)],
			PricePerGibEpoch: sdkmath.NewInt(int64(500 + 50*i)),
		}
		if err := b.deliver(ctx, h, msg, 300_000); err != nil {
			return nil, fmt.Errorf("register hoster %d: %w", i, err)
		}
	}
	b.log.Info("registered hosters", "count", len(hosters))
	return hosters, nil
}

// placeOrder makes a new core (fresh writer key, one 4 KiB block, signed
// tree) and the order for it.
func placeOrder(from *signer, _ int) (sdk.Msg, uint64, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, 0, err
	}
	ctx := context.Background()
	core, err := hypercore.Create(ctx, hypercore.NewMemStorage(), priv, false)
	if err != nil {
		return nil, 0, err
	}
	defer core.Close()
	block := make([]byte, coreBytes)
	if _, err := rand.Read(block); err != nil {
		return nil, 0, err
	}
	if _, err := core.Append(ctx, block); err != nil {
		return nil, 0, err
	}
	info := core.Info()
	return &storagetypes.MsgPlaceOrder{
		Owner: from.addr.String(),
		Cores: []storagetypes.Core{{
			Key: info.Key[:], Manifest: info.Manifest, Length: info.Length, Fork: info.Fork,
			ByteLength: info.ByteLength, TreeHash: info.TreeHash[:], Signature: info.Signature,
			Roots: storagetypes.RootsFromNodes(core.Roots()),
		}},
		Replicas:       orderReplicas,
		MaxPrice:       sdkmath.NewInt(orderMaxPrice),
		DurationEpochs: orderDuration,
		Deposit:        sdk.NewCoin(app.BondDenom, orderDeposit),
	}, 600_000, nil
}
