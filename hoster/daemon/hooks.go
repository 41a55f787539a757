package daemon

import (
	"log/slog"

	codectypes "github.com/cosmos/cosmos-sdk/codec/types"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/hoster/follower"
	"github.com/datdot/datdot/hoster/server"
	"github.com/datdot/datdot/hoster/store"
)

// Plugins are other modules' parts of the hoster (x/attest's challenge
// answers and attestation duties).
type Plugins struct {
	// Interfaces register the modules' messages in the chain client.
	Interfaces []func(codectypes.InterfaceRegistry)
	// Hooks make per-block duties.
	Hooks []func(*chainclient.Client, *store.Store, *slog.Logger, *server.Metrics) follower.BlockHook
}
