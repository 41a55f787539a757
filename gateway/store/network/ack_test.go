package network

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
)

// openAck opens an encrypting store of k=2 m=2 volumes over net's four
// hosters that acknowledges a blob once ackCores cores hold it.
func openAck(t *testing.T, net *testNet, ackCores int) *crypt.Blobs {
	t.Helper()
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	remote, err := NewRemote(RemoteConfig{Locator: net, SlowAfter: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	vols, err := Open(Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 2, M: 2}, Shipper: net, Journal: meta,
		Remote: remote, AckCores: ackCores})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vols.Close() })
	c, err := crypt.New(vols, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func putRandom(ctx context.Context, b store.BlobStore, n int) (store.BlobRef, []byte, error) {
	data := make([]byte, n)
	rand.Read(data)
	ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), int64(n), nil)
	return ref, data, err
}

// TestAckNeedsEnoughHosters: a blob is acknowledged only once it is on
// the hosters of AckCores cores. With every core required (the default),
// one dead hoster fails the PUT and one that never answers keeps it
// waiting (it is not acknowledged); with AckCores = k+1 one dead hoster
// is tolerated and the acknowledged blob survives the loss of one more,
// while two dead hosters fail the PUT.
func TestAckNeedsEnoughHosters(t *testing.T) {
	kill := func(h *testHoster) {
		h.srv.Listener.Close()
		h.srv.CloseClientConnections()
	}
	if _, err := Open(Config{Dir: t.TempDir(), Master: testMaster, Layout: volume.Layout{K: 2, M: 2}, Journal: nopJournal{}, AckCores: 1}); err == nil {
		t.Fatal("a store acknowledging on fewer than k cores opened")
	}

	t.Run("every core, one dead", func(t *testing.T) {
		net := testHosters(t, 4)
		b := openAck(t, net, 0)
		if _, _, err := putRandom(ctx, b, 100000); err != nil {
			t.Fatal(err)
		}
		kill(net.hosters[3])
		if _, _, err := putRandom(ctx, b, 100000); err == nil {
			t.Fatal("a blob was acknowledged with the hoster of core 3 dead, every core required")
		}
	})

	t.Run("every core, one silent", func(t *testing.T) {
		net := testHosters(t, 4)
		b := openAck(t, net, 0)
		net.hosters[1].mode.Store(stall)
		// The PUT can never be acknowledged: it must still be waiting
		// when its context ends, however long that takes.
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, _, err := putRandom(wctx, b, 70000)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("PUT with a silent hoster: %v, want it still waiting at its deadline", err)
		}
	})

	t.Run("k+1 cores", func(t *testing.T) {
		net := testHosters(t, 4)
		b := openAck(t, net, 3)
		kill(net.hosters[0])
		var refs []store.BlobRef
		var datas [][]byte
		for i, n := range []int{1, 70000, 600000} {
			ref, data, err := putRandom(ctx, b, n)
			if err != nil {
				t.Fatalf("blob %d with one hoster dead and k+1 cores required: %v", i, err)
			}
			refs, datas = append(refs, ref), append(datas, data)
		}
		// The acknowledged blobs survive the loss of one more hoster.
		kill(net.hosters[3])
		reader := openAck(t, net, 3)
		for i, ref := range refs {
			got, err := readAll(ctx, reader, ref, 0, ref.Size)
			if err != nil || !bytes.Equal(got, datas[i]) {
				t.Fatalf("blob %d after a second hoster died: %v", i, err)
			}
		}
		// Two of four hosters dead: no blob can reach three.
		if _, _, err := putRandom(ctx, b, 5000); err == nil {
			t.Fatal("a blob was acknowledged on two hosters, three required")
		}
	})
}

// nopJournal takes pending blobs and forgets them.
type nopJournal struct{}

func (nopJournal) AddPending(context.Context, []store.BlobRef, time.Time) error { return nil }

// TestCoreShippingRestart: with core by core shipping the local cores are
// written without fsync, so a volume is continued after a restart only if
// the store was closed cleanly (cores synced, marked); after a crash the
// volume is sealed and new blobs go to a new one, while the acknowledged
// blobs read back from the hosters.
func TestCoreShippingRestart(t *testing.T) {
	net := testHosters(t, 4)
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	remote, err := NewRemote(RemoteConfig{Locator: net})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 2, M: 2}, Shipper: net, Journal: meta, Remote: remote}
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first, data1, err := putRandom(ctx, b, 90000)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	second, data2, err := putRandom(ctx, b, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if second.Extents[0].Volume != first.Extents[0].Volume {
		t.Fatal("a cleanly closed volume was not continued")
	}
	// A crash: the pushes stop, nothing is synced or marked.
	v := b.open
	v.stop()
	v.workers.Wait()
	for _, c := range v.Cores {
		c.Close()
	}
	b.usage.close()
	if b, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	third, _, err := putRandom(ctx, b, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if third.Extents[0].Volume == first.Extents[0].Volume {
		t.Fatal("a volume whose unsynced local cores survived a crash was continued")
	}
	for i, w := range []struct {
		ref  store.BlobRef
		data []byte
	}{{first, data1}, {second, data2}} {
		got, err := readAll(ctx, b, w.ref, 0, w.ref.Size)
		if err != nil || !bytes.Equal(got, w.data) {
			t.Fatalf("blob %d after the crash: %v", i, err)
		}
	}
}

// settleNet is a testNet that records the volumes it is asked to settle.
type settleNet struct {
	*testNet
	smu     sync.Mutex
	settled map[string][]uint64 // volume -> lengths Settle was called with
}

// Settle implements Settler: a real push of every core to its hoster,
// recorded (the test stands for the chain's order).
func (n *settleNet) Settle(ctx context.Context, v *Volume, length uint64) error {
	if err := n.testNet.Ship(ctx, v, length); err != nil {
		return err
	}
	n.smu.Lock()
	defer n.smu.Unlock()
	n.settled[v.Hex] = append(n.settled[v.Hex], length)
	return nil
}

func (n *settleNet) calls(hexID string) []uint64 {
	n.smu.Lock()
	defer n.smu.Unlock()
	return slices.Clone(n.settled[hexID])
}

// TestCrashedVolumeSettled: a volume sealed by a crash holds acknowledged
// blobs in stripes its order may not cover yet (orders are extended in
// batches); after the restart the store settles it (its order extended to
// the full length of its cores) on its own, exactly once, and leaves the
// new open volume alone. Settling records the volume's stream from its
// cores (the shortest, when the crash left them uneven): a blob whose PUT the crash cut before its metadata commit is
// dead space in it, the referenced one live.
func TestCrashedVolumeSettled(t *testing.T) {
	net := &settleNet{testNet: testHosters(t, 4), settled: map[string][]uint64{}}
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	remote, err := NewRemote(RemoteConfig{Locator: net})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 2, M: 2}, Shipper: net, Journal: meta, Remote: remote,
		UsagePath: filepath.Join(dir, "volumes.db")}
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref, data, err := putRandom(ctx, b, 300000)
	if err != nil {
		t.Fatal(err)
	}
	reference(t, meta, ref)
	// A blob whose PUT dies with the gateway, before its metadata commit.
	dead, _, err := putRandom(ctx, b, 70000)
	if err != nil {
		t.Fatal(err)
	}
	// A crash: the pushes stop, nothing is synced, marked or extended.
	v := b.open
	v.stop()
	v.workers.Wait()
	length := v.Cores[0].Length()
	for _, c := range v.Cores {
		length = min(length, c.Length())
		c.Close()
	}
	b.stopBg()
	b.bg.Wait()
	b.usage.close()
	if length == 0 {
		t.Fatal("the crashed volume holds no stripes")
	}
	// The crash came between the cores' appends: core 0 holds a stripe
	// more than the others, which settling must not count.
	st, err := hypercore.OpenFileStorage(b.coreDir(v.Hex, 0))
	if err != nil {
		t.Fatal(err)
	}
	c0, err := hypercore.Open(ctx, st, v.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c0.Append(ctx, bytes.Repeat([]byte{7}, 4096)); err != nil {
		t.Fatal(err)
	}
	if c0.Length() <= length {
		t.Fatalf("core 0 holds %d stripes, want more than %d", c0.Length(), length)
	}
	c0.Close()
	if got := net.calls(v.Hex); len(got) != 0 {
		t.Fatalf("the open volume was settled before the crash: %v", got)
	}

	if b, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(net.calls(v.Hex)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the volume sealed by the crash was never settled: its order stays short of what its hosters hold")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := net.calls(v.Hex); !slices.Equal(got, []uint64{length}) {
		t.Fatalf("settled at %v, want once at the cores' length %d", got, length)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "volumes", v.Hex, "settled")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the settled volume is not marked")
		}
	}
	got, err := readAll(ctx, b, ref, 0, ref.Size)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("blob after the crash: %v", err)
	}
	// Settling recorded the sealed volume's stream from its cores: the
	// referenced blob is live, the one whose metadata never came is dead
	// space within the stream.
	us, err := b.Usage()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(us, func(u VolumeUsage) bool { return u.Volume == v.Hex })
	if i < 0 {
		t.Fatalf("no usage of the crashed volume: %+v", us)
	}
	if u, end := us[i], dead.Extents[0].Offset+dead.Extents[0].Length; u.Live != ref.Size || u.Stream != int64(length)*cfg.Layout.StripeSize() || u.Stream < end || u.Dead() < dead.Size {
		t.Fatalf("usage of the crashed volume %+v: want %d live, a stream of %d stripes past %d, the lost PUT's %d bytes dead", u, ref.Size, length, end, dead.Size)
	}
	second, _, err := putRandom(ctx, b, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// A settled volume is not settled again, nor is the volume that was
	// closed cleanly (it is continued).
	if b, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := net.calls(v.Hex); len(got) != 1 {
		t.Fatalf("the settled volume was settled again: %v", got)
	}
	if got := net.calls(second.Extents[0].Volume); len(got) != 0 {
		t.Fatalf("the open volume was settled: %v", got)
	}
}
