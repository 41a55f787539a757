// Command datdotchaind is the DatDot chain node and its command-line client:
// init, start, keys, genesis, tx, query, export, version and comet, with a
// tx/query command for every Msg and Query of the app's modules (AutoCLI).
package main

import (
	"fmt"
	"os"

	svrcmd "github.com/cosmos/cosmos-sdk/server/cmd"

	"github.com/datdot/datdot/app"
)

func main() {
	app.SetAddressPrefixes()
	rootCmd, err := NewRootCmd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "datdotchaind:", err)
		os.Exit(1)
	}
	if err := svrcmd.Execute(rootCmd, "DATDOTCHAIND", app.DefaultNodeHome()); err != nil {
		fmt.Fprintln(rootCmd.OutOrStderr(), err)
		os.Exit(1)
	}
}
