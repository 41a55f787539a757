package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/app"
)

// TestCommandTree checks that the node binary offers the standard commands
// and, through AutoCLI and the module's own CLI, every x/storage tx and
// query.
func TestCommandTree(t *testing.T) {
	app.SetAddressPrefixes()
	root, err := NewRootCmd()
	require.NoError(t, err)

	for _, path := range []string{
		"init", "start", "export", "version", "status", "rollback",
		"keys add", "keys show", "keys list",
		"genesis add-genesis-account", "genesis gentx", "genesis collect-gentxs", "genesis validate",
		"comet show-node-id", "comet show-validator",
		"query tx", "query wait-tx", "query block", "query bank balances", "query auth module-account",
		"query staking validators", "query gov proposals", "query distribution rewards",
		"query slashing signing-infos", "query consensus params",
		"tx bank send", "tx staking delegate", "tx gov submit-proposal", "tx sign", "tx broadcast",
		"tx storage register-hoster", "tx storage update-hoster", "tx storage add-stake",
		"tx storage leave", "tx storage withdraw-stake", "tx storage place-order",
		"tx storage extend-order", "tx storage cancel-order", "tx storage commit",
		"tx storage claim-payment",
		"query storage params", "query storage hoster", "query storage hosters",
		"query storage order", "query storage orders-by-owner",
		"query storage assignments-by-hoster", "query storage assignments-by-order",
	} {
		cmd, rest, err := root.Find(strings.Fields(path))
		require.NoErrorf(t, err, "command %q", path)
		require.Emptyf(t, rest, "command %q not found (stopped at %q)", path, cmd.CommandPath())
		require.Equal(t, "datdotchaind "+path, cmd.CommandPath(), "command %q resolved elsewhere", path)
	}
}
