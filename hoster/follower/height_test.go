package follower

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/hoster/store"
)

// TestHeightRecordedAtMostEvery: the follower records the height it
// finished at most every HeightEvery (not a database commit per block),
// and always the last one when it stops (saveHeight, what Run calls on
// its way out), so a restart resumes after the last block processed.
func TestHeightRecordedAtMostEvery(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.SetHeight(10))
	f := &Follower{cfg: Config{Store: st, HeightEvery: time.Hour}, log: slog.New(slog.DiscardHandler)}
	f.done, f.saved, f.savedAt = 10, 10, time.Now()

	for h := int64(11); h <= 20; h++ {
		require.NoError(t, f.onBlock(ctx, &chainclient.Block{Height: h}))
	}
	got, err := st.Height()
	require.NoError(t, err)
	require.Equal(t, int64(10), got, "no record before HeightEvery passed")

	require.NoError(t, f.saveHeight()) // Run ends
	got, err = st.Height()
	require.NoError(t, err)
	require.Equal(t, int64(20), got, "the last height processed is recorded on the way out")

	// Once HeightEvery has passed, the next block is recorded.
	f.cfg.HeightEvery = time.Nanosecond
	time.Sleep(time.Millisecond)
	require.NoError(t, f.onBlock(ctx, &chainclient.Block{Height: 21}))
	got, err = st.Height()
	require.NoError(t, err)
	require.Equal(t, int64(21), got)
}

// TestHeightRecordFailureIsReported: a store that cannot record the
// height makes saveHeight fail (Run returns the error) instead of
// losing it silently.
func TestHeightRecordFailureIsReported(t *testing.T) {
	st, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	f := &Follower{cfg: Config{Store: st, HeightEvery: time.Hour}, log: slog.New(slog.DiscardHandler)}
	f.done, f.saved = 5, 4
	require.NoError(t, st.Close())
	require.Error(t, f.saveHeight())
	require.Equal(t, int64(4), f.saved, "a failed record is not taken as made")
}
