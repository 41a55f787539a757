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

// TestAssignmentIndex: the reads of assignments (served from memory)
// give what the database holds, after puts, updates, a slot moved to
// another core and deletes, and again after a reopen (which reloads them
// from the database); a failed update changes nothing.
func TestAssignmentIndex(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, nil)
	require.NoError(t, err)
	k1, k2 := [32]byte{1}, [32]byte{2}
	a := Assignment{Slot: Slot{OrderID: 7, CoreIndex: 1}, Key: k1, Manifest: []byte{}, Length: 3, Peers: []string{"p:1"}}
	b := Assignment{Slot: Slot{OrderID: 7, CoreIndex: 0, Replica: 2}, Key: k1, Length: 3}
	c := Assignment{Slot: Slot{OrderID: 3}, Key: k2, Length: 1, TreeHash: []byte{9}}
	for _, x := range []Assignment{a, b, c} {
		require.NoError(t, st.PutAssignment(x))
	}
	a.Length, a.CommittedLength = 5, 3
	require.NoError(t, st.PutAssignment(a))
	// b moves to core k2: core k1 keeps a only.
	b.Key = k2
	require.NoError(t, st.PutAssignment(b))

	check := func(st *Store) {
		t.Helper()
		got, ok, err := st.Assignment(a.Slot)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, uint64(5), got.Length)
		require.Equal(t, uint64(3), got.CommittedLength)
		require.Nil(t, got.Manifest, "an empty manifest reads back as none, as from the database")
		require.Equal(t, []string{"p:1"}, got.Peers)
		got.Peers[0] = "changed" // a copy: the index is not changed through it
		as, err := st.AssignmentsOf(k1)
		require.NoError(t, err)
		require.Len(t, as, 1)
		require.Equal(t, a.Slot, as[0].Slot)
		require.Equal(t, []string{"p:1"}, as[0].Peers)
		as, err = st.AssignmentsOf(k2)
		require.NoError(t, err)
		require.Equal(t, []Slot{c.Slot, b.Slot}, slotsOf(as))
		all, err := st.Assignments()
		require.NoError(t, err)
		require.Equal(t, []Slot{c.Slot, b.Slot, a.Slot}, slotsOf(all))
		of7, err := st.AssignmentsOfOrder(7)
		require.NoError(t, err)
		require.Equal(t, []Slot{b.Slot, a.Slot}, slotsOf(of7))
		for _, k := range [][32]byte{k1, k2} {
			ok, err := st.Assigned(k)
			require.NoError(t, err)
			require.True(t, ok)
		}
		ok, err = st.HasOrder(3)
		require.NoError(t, err)
		require.True(t, ok)
	}
	check(st)
	require.NoError(t, st.Close())
	st, err = Open(dir, nil)
	require.NoError(t, err)
	check(st)

	require.NoError(t, st.DeleteAssignment(a.Slot))
	require.NoError(t, st.DeleteAssignment(a.Slot), "deleting a deleted slot")
	ok, err := st.Assigned(k1)
	require.NoError(t, err)
	require.False(t, ok, "core k1 after its last slot was deleted")
	require.NoError(t, st.DeleteAssignment(c.Slot))
	ok, err = st.HasOrder(3)
	require.NoError(t, err)
	require.False(t, ok)

	// A failed update leaves the index as the database is.
	require.NoError(t, st.db.Close())
	require.Error(t, st.PutAssignment(Assignment{Slot: Slot{OrderID: 9}, Key: k1}))
	require.Error(t, st.DeleteAssignment(b.Slot))
	ok, _ = st.Assigned(k1)
	require.False(t, ok, "a failed put reached the index")
	ok, _ = st.Assigned(k2)
	require.True(t, ok, "a failed delete reached the index")

	st, err = Open(dir, nil)
	require.NoError(t, err)
	defer st.Close()
	all, err := st.Assignments()
	require.NoError(t, err)
	require.Equal(t, []Slot{b.Slot}, slotsOf(all))
	ok, _ = st.Assigned(k1)
	require.False(t, ok, "core k1 after reopen")
}

func slotsOf(as []Assignment) []Slot {
	var out []Slot
	for _, a := range as {
		out = append(out, a.Slot)
	}
	return out
}
