package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/hypercore"
)

// pushFor returns a writer's core of n blocks and the push of all of them.
func pushFor(t *testing.T, n int) (hypercore.Info, *wire.Push) {
	t.Helper()
	ctx := context.Background()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	c, err := hypercore.Create(ctx, hypercore.NewMemStorage(), priv, false)
	require.NoError(t, err)
	var blocks [][]byte
	for i := range n {
		blocks = append(blocks, []byte{byte(i), 1, 2, 3})
	}
	_, err = c.Append(ctx, blocks...)
	require.NoError(t, err)
	info := c.Info()
	return info, &wire.Push{Fork: info.Fork, Signature: info.Signature, Manifest: info.Manifest, Blocks: blocks}
}

// TestAppendChecksTheAssignment: a push for a core no assignment names is
// refused and creates nothing; once the core is open, a push after its
// last assignment was deleted (before Release) is refused too, even
// though the open core is found without reading the assignments.
func TestAppendChecksTheAssignment(t *testing.T) {
	ctx := context.Background()
	st, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer st.Close()
	info, p := pushFor(t, 3)

	_, err = st.Append(ctx, info.Key, p, Limits{})
	require.ErrorIs(t, err, ErrNotAssigned)
	_, err = st.Core(ctx, info.Key)
	require.ErrorIs(t, err, ErrUnknownCore, "a refused push made a core")

	slot := Slot{OrderID: 4, CoreIndex: 1}
	require.NoError(t, st.PutAssignment(Assignment{Slot: slot, Key: info.Key, Manifest: info.Manifest, Length: 3}))
	n, err := st.Append(ctx, info.Key, p, Limits{})
	require.NoError(t, err)
	require.Equal(t, uint64(3), n)

	require.NoError(t, st.DeleteAssignment(slot))
	_, err = st.Append(ctx, info.Key, p, Limits{})
	require.ErrorIs(t, err, ErrNotAssigned)
}

// TestAssignmentsOfOrder lists the slots of one order only.
func TestAssignmentsOfOrder(t *testing.T) {
	st, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer st.Close()
	for _, s := range []Slot{{OrderID: 1}, {OrderID: 2, CoreIndex: 0}, {OrderID: 2, CoreIndex: 3}, {OrderID: 3}, {OrderID: 258}} {
		require.NoError(t, st.PutAssignment(Assignment{Slot: s, Key: [32]byte{byte(s.OrderID), byte(s.CoreIndex)}}))
	}
	as, err := st.AssignmentsOfOrder(2)
	require.NoError(t, err)
	require.Len(t, as, 2)
	require.Equal(t, Slot{OrderID: 2, CoreIndex: 0}, as[0].Slot)
	require.Equal(t, Slot{OrderID: 2, CoreIndex: 3}, as[1].Slot)
	as, err = st.AssignmentsOfOrder(9)
	require.NoError(t, err)
	require.Empty(t, as)
}
