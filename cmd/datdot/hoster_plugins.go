package main

import "github.com/datdot/datdot/hoster/daemon"

// hosterPlugins wires other modules' hoster duties (x/attest) into the daemon.
func hosterPlugins() daemon.Plugins { return daemon.Plugins{} }
