package keeper_test

import (
	"crypto/ed25519"
	"testing"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/x/storage/types"
	"github.com/stretchr/testify/require"
)

// compatSign signs a compat core (empty manifest) with the writer's key.
func compatSign(t *testing.T, w writer, c types.Core) []byte {
	sig, err := hypercore.SignTree(w.priv, nil, c.TreeHash, c.Length, c.Fork)
	require.NoError(t, err)
	require.Len(t, sig, ed25519.SignatureSize)
	return sig
}
