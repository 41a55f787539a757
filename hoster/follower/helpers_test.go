package follower

import (
	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/hypercore"
)

func pushOf(info hypercore.Info, blocks [][]byte) *wire.Push {
	return &wire.Push{Fork: info.Fork, Signature: info.Signature, Manifest: info.Manifest, Blocks: blocks}
}
