package onchain

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	txtypes "github.com/cosmos/cosmos-sdk/types/tx"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/gateway/store/network"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// testChain is a real one-validator chain (scripts/localnet.sh) with three
// registered hosters (their endpoints serve nothing: the orders are only
// assigned, which is all renewal needs).
type testChain struct {
	home, grpc, rpc string
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startChain starts the chain (building datdotchaind when build/ has
// none) and stops it when the test ends.
func startChain(t *testing.T) *testChain {
	t.Helper()
	root := repoRoot(t)
	bin := filepath.Join(root, "build", "datdotchaind")
	if _, err := os.Stat(bin); err != nil {
		bin = filepath.Join(t.TempDir(), "datdotchaind")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/datdotchaind")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build datdotchaind: %v\n%s", err, out)
		}
	}
	c := &testChain{home: t.TempDir()}
	rpcPort, grpcPort := freePort(t), freePort(t)
	c.grpc, c.rpc = "127.0.0.1:"+grpcPort, "http://127.0.0.1:"+rpcPort
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "localnet.sh"), "--background")
	cmd.Env = append(os.Environ(), "LOCALNET_HOME="+c.home, "LOCALNET_BIN="+bin,
		"LOCALNET_RPC_PORT="+rpcPort, "LOCALNET_GRPC_PORT="+grpcPort,
		"LOCALNET_P2P_PORT="+freePort(t), "LOCALNET_API_PORT="+freePort(t),
		"LOCALNET_EPOCH_BLOCKS=5", "LOCALNET_CHALLENGES_PER_BLOCK=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("localnet: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		stop := exec.Command("bash", filepath.Join(root, "scripts", "localnet.sh"), "--stop")
		stop.Env = append(os.Environ(), "LOCALNET_HOME="+c.home)
		stop.Run()
	})
	for i := 1; i <= 3; i++ {
		h := c.client(t, fmt.Sprintf("hoster%d", i))
		_, err := h.SendAndWait(context.Background(), &storagetypes.MsgRegisterHoster{Hoster: h.Address(),
			Stake: sdk.NewInt64Coin("udot", 5_000_000), Capacity: 1 << 30, Endpoint: fmt.Sprintf("http://127.0.0.1:%d", 1+i),
			Region: fmt.Sprintf("r%d", i), PricePerGibEpoch: math.NewInt(100)})
		if err != nil {
			t.Fatalf("register hoster%d: %v", i, err)
		}
	}
	return c
}

func (c *testChain) client(t *testing.T, key string) *chainclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := chainclient.New(ctx, chainclient.Config{GRPC: c.grpc, RPC: c.rpc, KeyringDir: c.home, KeyringBackend: "test", KeyName: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// makeVolume writes a volume's n cores (one block each) under dir, as the
// gateway's writer copy.
func makeVolume(t *testing.T, master []byte, dir string, l volume.Layout) *network.Volume {
	t.Helper()
	id := make([]byte, 16)
	rand.Read(id)
	keys, err := volume.CoreKeys(master, id, l)
	if err != nil {
		t.Fatal(err)
	}
	v := &network.Volume{ID: id, Hex: hex.EncodeToString(id), Keys: keys, Layout: l, Cores: make([]*hypercore.Core, l.N())}
	v.Dir = filepath.Join(dir, v.Hex)
	for j := range v.Cores {
		st, err := hypercore.OpenFileStorage(filepath.Join(v.Dir, fmt.Sprintf("core-%03d", j)))
		if err != nil {
			t.Fatal(err)
		}
		c, err := hypercore.Create(context.Background(), st, keys[j], false)
		if err != nil {
			t.Fatal(err)
		}
		block := make([]byte, volume.BlockSize)
		rand.Read(block)
		if _, err := c.Append(context.Background(), block); err != nil {
			t.Fatal(err)
		}
		v.Cores[j] = c
		t.Cleanup(func() { c.Close() })
	}
	return v
}

func orderOf(t *testing.T, cl *chainclient.Client, id uint64) storagetypes.Order {
	t.Helper()
	res, err := cl.Storage().Order(context.Background(), &storagetypes.QueryOrderRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	return res.Order
}

// extendTxs counts the included txs that carry MsgExtendOrder.
func extendTxs(t *testing.T, cl *chainclient.Client) int {
	t.Helper()
	res, err := txtypes.NewServiceClient(cl.Conn()).GetTxsEvent(context.Background(), &txtypes.GetTxsEventRequest{
		Query: "message.action='/datdot.storage.v1.MsgExtendOrder'", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.TxResponses)
}

// waitFor polls cond (each poll may do work, like a renewal pass) until
// it holds or a generous timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(4 * time.Minute)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestRenewalOnChain: on a real chain, the renewer extends every kept
// order before it ends, all of them in one tx (counted on chain: fewer
// txs than orders, never one per order), paying the top-up the escrow
// lacks (the chain refuses an extension whose escrow falls short);
// an order of a volume that is given up is not renewed and no longer
// tracked; a new renewer on the same file (a restarted gateway) knows the
// orders without being told and renews them again; Retire cancels an
// order (the escrow comes back) and forgets it; OwnedOrders lists the
// account's live orders with their first core keys, and CancelOrder
// cancels one by id and forgets it.
func TestRenewalOnChain(t *testing.T) {
	c := startChain(t)
	ctx := context.Background()
	alice := c.client(t, "alice")
	master := bytes.Repeat([]byte{3}, 32)
	dir := t.TempDir()
	// A slot of one 64 KiB block costs ceil(100000 x 64 KiB / GiB) = 7
	// per epoch at this max price: 3 slots x 60 epochs = 1260, so a
	// deposit of 1300 leaves renewals to pay their own top-ups.
	s := New(Config{Chain: alice, MaxPrice: math.NewInt(100_000), DurationEpochs: 60, Deposit: sdk.NewInt64Coin("udot", 1300)})
	path := filepath.Join(dir, "orders.db")
	// Orders end 60 epochs after placement; with a margin of 50 they come
	// due about 10 epochs later and have 50 epochs (about 50 s) left.
	r, err := NewRenewer(RenewConfig{Chain: alice, Path: path, Margin: 50, Epochs: 80, Batch: 50})
	if err != nil {
		t.Fatal(err)
	}
	s.SetRenewer(r)
	l := volume.Layout{K: 2, M: 1}
	var vols []*network.Volume
	var ids []uint64
	for range 4 {
		v := makeVolume(t, master, dir, l)
		id, err := s.place(ctx, v, 1)
		if err != nil {
			t.Fatal(err)
		}
		vols, ids = append(vols, v), append(ids, id)
	}
	given := vols[3].Hex
	r.SetKeep(func(vol string) bool { return vol != given })
	ends := map[uint64]uint64{}
	for _, id := range ids {
		ends[id] = orderOf(t, alice, id).EndEpoch
	}
	if n := extendTxs(t, alice); n != 0 {
		t.Fatalf("%d extension txs before any renewal", n)
	}
	// Renewal passes until every kept order was extended.
	waitFor(t, "the kept orders to be renewed", func() bool {
		if _, err := r.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids[:3] {
			o := orderOf(t, alice, id)
			if o.IsEnded() {
				t.Fatalf("order %d ended (%s) before it was renewed", id, o.Status)
			}
			if o.EndEpoch <= ends[id] {
				return false
			}
		}
		return true
	})
	st := r.Status()
	txs := extendTxs(t, alice)
	if txs == 0 || uint64(txs) != st.Txs || txs >= 3 {
		t.Fatalf("%d extension txs on chain, the renewer reports %d, for 3 orders: want fewer txs than orders", txs, st.Txs)
	}
	t.Logf("measured: %d renewal tx(s) on chain for 3 orders (status %+v)", txs, st)
	if top, ok := math.NewIntFromString(st.TopUp); !ok || !top.IsPositive() {
		t.Fatalf("renewals paid no top-up (%s) though the deposits covered only the first 60 epochs", st.TopUp)
	}
	if st.Renewed != 3 {
		t.Fatalf("renewer status %+v: want 3 renewals", st)
	}
	newEnd := orderOf(t, alice, ids[0]).EndEpoch
	for _, id := range ids[:3] {
		o := orderOf(t, alice, id)
		if o.EndEpoch != newEnd {
			t.Fatalf("renewed orders end at different epochs: %d and %d", o.EndEpoch, newEnd)
		}
	}
	if got := orderOf(t, alice, ids[3]).EndEpoch; got != ends[ids[3]] {
		t.Fatalf("the given-up volume's order was extended to %d", got)
	}
	tracked, err := r.Tracked()
	if err != nil || len(tracked) != 3 || tracked[ids[3]] != 0 {
		t.Fatalf("tracked %v (%v): want the 3 kept orders", tracked, err)
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "renew-status.json")); err != nil || !strings.Contains(string(raw), `"renewed": 3`) {
		t.Fatalf("status file: %s %v", raw, err)
	}

	// A restarted gateway: a new renewer on the same file, told nothing,
	// with a margin that makes the orders due at once.
	r.Close()
	r2, err := NewRenewer(RenewConfig{Chain: alice, Path: path, Margin: 500, Epochs: 80, Batch: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := r2.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:3] {
		if o := orderOf(t, alice, id); o.EndEpoch <= newEnd || o.IsEnded() {
			t.Fatalf("order %d: end %d after the restarted renewer's pass, was %d", id, o.EndEpoch, newEnd)
		}
	}
	if got := extendTxs(t, alice); got != txs+1 {
		t.Fatalf("%d extension txs after the restart's pass, want %d", got, txs+1)
	}

	// Retire cancels the order and the renewer forgets it.
	s.SetRenewer(r2)
	before, err := alice.Balance(ctx, alice.Address())
	if err != nil {
		t.Fatal(err)
	}
	escrow := orderOf(t, alice, ids[0]).Escrow
	ref := network.VolumeRef{ID: vols[0].ID, Layout: l, Dir: vols[0].Dir}
	if err := s.Retire(ctx, ref); err != nil {
		t.Fatal(err)
	}
	o := orderOf(t, alice, ids[0])
	if o.Status != storagetypes.ORDER_STATUS_CANCELLED {
		t.Fatalf("retired volume's order is %s", o.Status)
	}
	after, err := alice.Balance(ctx, alice.Address())
	if err != nil {
		t.Fatal(err)
	}
	// The refund (escrow less what hosters accrued) exceeds the tx fee.
	if !after.Amount.GT(before.Amount) || escrow.IsZero() {
		t.Fatalf("balance %s -> %s after cancelling an order with escrow %s", before, after, escrow)
	}
	if tr, _ := r2.Tracked(); tr[ids[0]] != 0 || len(tr) != 2 {
		t.Fatalf("tracked after retire: %v", tr)
	}
	// Retiring again (a crash after the cancel) is not an error.
	if err := s.Retire(ctx, ref); err != nil {
		t.Fatalf("second retire: %v", err)
	}

	// The account's live orders, by their first core key (the sweep of
	// orphan orders); one given up by id is cancelled and forgotten.
	owned, err := s.OwnedOrders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := owned[ids[0]]; ok {
		t.Fatalf("the cancelled order %d is listed as live", ids[0])
	}
	for i, id := range ids[1:] {
		want, err := network.NewVolumeRef(master, vols[i+1].ID, l)
		if err != nil {
			t.Fatal(err)
		}
		if k, ok := owned[id]; !ok || k != want.Keys[0] {
			t.Fatalf("order %d listed %v with key %x, want volume %s's first core %x", id, ok, k, vols[i+1].Hex, want.Keys[0])
		}
	}
	if err := s.CancelOrder(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if o := orderOf(t, alice, ids[1]); o.Status != storagetypes.ORDER_STATUS_CANCELLED {
		t.Fatalf("the order given up by id is %s", o.Status)
	}
	if tr, _ := r2.Tracked(); tr[ids[1]] != 0 || len(tr) != 1 {
		t.Fatalf("tracked after CancelOrder: %v, want only order %d", tr, ids[2])
	}
	if err := s.CancelOrder(ctx, ids[1]); err != nil {
		t.Fatalf("second CancelOrder: %v", err)
	}

	// A gateway that lost its local files (no order file, nothing
	// remembered) finds a volume's order by its first core key, through
	// the chain's index of orders by core, and cancels it; a key no
	// order of the account names is "no order", not an error.
	lost := New(Config{Chain: alice, MaxPrice: math.NewInt(100_000), DurationEpochs: 60, Deposit: sdk.NewInt64Coin("udot", 1300)})
	ref3, err := network.NewVolumeRef(master, vols[3].ID, l)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := lost.findOrder(ctx, ref3.Keys[0][:]); err != nil || id != ids[3] {
		t.Fatalf("order found by core key: %d (%v), want %d", id, err, ids[3])
	}
	if id, err := lost.findOrder(ctx, ref3.Keys[1][:]); !errors.Is(err, errNoOrder) {
		t.Fatalf("an order found by a core key that is no order's first core: %d (%v)", id, err)
	}
	if id, err := lost.findOrder(ctx, bytes.Repeat([]byte{9}, 32)); !errors.Is(err, errNoOrder) {
		t.Fatalf("an order found for an unknown core key: %d (%v)", id, err)
	}
	if err := lost.Retire(ctx, ref3); err != nil {
		t.Fatal(err)
	}
	if o := orderOf(t, alice, ids[3]); o.Status != storagetypes.ORDER_STATUS_CANCELLED {
		t.Fatalf("the order found by core key is %s after Retire", o.Status)
	}
}
