package replicate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/secretstream"
)

func testCore(t testing.TB, compat bool, blocks int, size func(i int) int) (*hypercore.Core, [][]byte) {
	t.Helper()
	ctx := context.Background()
	_, priv, _ := ed25519.GenerateKey(nil)
	c, err := hypercore.Create(ctx, hypercore.NewMemStorage(), priv, compat)
	if err != nil {
		t.Fatal(err)
	}
	var all [][]byte
	var batch [][]byte
	for i := 0; i < blocks; i++ {
		b := bytes.Repeat([]byte(fmt.Sprintf("block %d|", i)), 1+size(i))[:size(i)]
		batch = append(batch, b)
		all = append(all, b)
		if len(batch) == 7 || i == blocks-1 { // several appends: several signed lengths
			if _, err := c.Append(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	return c, all
}

type served struct {
	srv  *Server
	addr string
	mu   sync.Mutex
	logs bytes.Buffer
}

func serve(t testing.TB, cores ...*hypercore.Core) *served {
	t.Helper()
	s := &served{}
	byDK := map[[32]byte]*hypercore.Core{}
	for _, c := range cores {
		byDK[c.DiscoveryKey()] = c
	}
	log := slog.New(slog.NewTextHandler(lockedWriter{s}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.srv = NewServer(func(dk [32]byte) (*hypercore.Core, bool) { c, ok := byDK[dk]; return c, ok }, secretstream.Config{MaxMessage: 4 << 20}, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

type lockedWriter struct{ s *served }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.logs.Write(p)
}

func (s *served) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// waitLog polls the server's log for a line (the server logs after the
// client already saw the disconnect).
func (s *served) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !bytes.Contains([]byte(s.log()), []byte(want)) {
		if time.Now().After(deadline) {
			t.Fatalf("server log lacks %q:\n%s", want, s.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func checkCopy(t *testing.T, st hypercore.Storage, src *hypercore.Core, blocks [][]byte) {
	t.Helper()
	ctx := context.Background()
	c, err := hypercore.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Info(), src.Info()
	if a.Key != b.Key || a.Length != b.Length || a.TreeHash != b.TreeHash || a.ByteLength != b.ByteLength || a.Compat != b.Compat {
		t.Fatalf("copy %+v, source %+v", a, b)
	}
	for i, want := range blocks {
		got, err := c.Get(ctx, uint64(i))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("block %d: %v", i, err)
		}
	}
}

func TestFetchGoToGo(t *testing.T) {
	for _, compat := range []bool{false, true} {
		t.Run(fmt.Sprint("compat=", compat), func(t *testing.T) {
			src, blocks := testCore(t, compat, 300, func(i int) int { return 1 + (i*7919)%5000 })
			other, _ := testCore(t, false, 3, func(int) int { return 10 })
			s := serve(t, other, src)
			st := hypercore.NewMemStorage()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := Dial(ctx, s.addr, src.Key(), st, FetchOptions{Window: 16})
			if err != nil {
				t.Fatal(err)
			}
			if res.Blocks != 300 || res.Length != 300 {
				t.Fatalf("result %+v", res)
			}
			checkCopy(t, st, src, blocks)
		})
	}
}

// TestFetchResume: a replica that holds a prefix fetches only the rest,
// after the source grew.
func TestFetchResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, blocks := testCore(t, false, 50, func(i int) int { return 100 + i })
	s := serve(t, src)
	st := hypercore.NewMemStorage()
	if _, err := Dial(ctx, s.addr, src.Key(), st, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 50; i < 81; i++ {
		b := []byte(fmt.Sprintf("later block %d", i))
		if _, err := src.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	s.srv.Announce(src.DiscoveryKey())
	res, err := Dial(ctx, s.addr, src.Key(), st, FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocks != 31 || res.Length != 81 {
		t.Fatalf("result %+v", res)
	}
	checkCopy(t, st, src, blocks)
	// Up to date: nothing to fetch.
	res, err = Dial(ctx, s.addr, src.Key(), st, FetchOptions{})
	if err != nil || res.Blocks != 0 || res.Length != 81 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestFetchUnknownCore(t *testing.T) {
	src, _ := testCore(t, false, 3, func(int) int { return 10 })
	s := serve(t, src)
	var key [32]byte
	key[0] = 1
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := hypercore.NewMemStorage()
	_, err := Dial(ctx, s.addr, key, st, FetchOptions{})
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("fetching a core the server does not have: %v", err)
	}
	if _, _, err := st.Load(ctx); !errors.Is(err, hypercore.ErrNoCore) {
		t.Fatalf("storage after a rejected fetch: %v", err)
	}
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }

// TestFetchInto: a caller that keeps its replica open (a hoster's store)
// fetches into it directly, and can fetch again after the source grew.
func TestFetchInto(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, blocks := testCore(t, false, 30, func(i int) int { return 1000 + i })
	s := serve(t, src)
	info := src.Info()
	st := hypercore.NewMemStorage()
	replica, err := hypercore.CreateReplica(ctx, st, info.Key, info.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	res, err := DialInto(ctx, s.addr, replica, FetchOptions{})
	if err != nil || res.Blocks != 30 || replica.Length() != 30 {
		t.Fatalf("%+v %v", res, err)
	}
	checkCopy(t, st, src, blocks)
}

// TestDirectory: only added keys are served; a removed one is refused.
func TestDirectory(t *testing.T) {
	src, _ := testCore(t, false, 4, func(int) int { return 10 })
	other, _ := testCore(t, true, 2, func(int) int { return 10 })
	byKey := map[[32]byte]*hypercore.Core{src.Key(): src, other.Key(): other}
	d := NewDirectory(func(key [32]byte) (*hypercore.Core, bool) { c, ok := byKey[key]; return c, ok })
	d.Add(src.Key())
	if c, ok := d.Lookup(src.DiscoveryKey()); !ok || c != src {
		t.Fatal("added core not found")
	}
	if _, ok := d.Lookup(other.DiscoveryKey()); ok {
		t.Fatal("core found without Add")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := NewServer(d.Lookup, secretstream.Config{}, nil)
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()
	if res, err := Dial(ctx, ln.Addr().String(), src.Key(), hypercore.NewMemStorage(), FetchOptions{}); err != nil || res.Blocks != 4 {
		t.Fatalf("%+v %v", res, err)
	}
	d.Remove(src.Key())
	if _, err := Dial(ctx, ln.Addr().String(), src.Key(), hypercore.NewMemStorage(), FetchOptions{}); !errors.Is(err, ErrRejected) {
		t.Fatalf("removed core: %v", err)
	}
}

// Accept sees the peer's signed tree before any block is fetched; a refusal
// stores nothing, an acceptance fetches everything.
func TestFetchAccept(t *testing.T) {
	ctx := context.Background()
	src, blocks := testCore(t, false, 30, func(i int) int { return 100 + i })
	var want uint64
	for _, b := range blocks {
		want += uint64(len(b))
	}
	s := serve(t, src)
	st := hypercore.NewMemStorage()
	var sawLen, sawBytes uint64
	_, err := Dial(ctx, s.addr, src.Key(), st, FetchOptions{Accept: func(l, b uint64) error {
		sawLen, sawBytes = l, b
		return errors.New("too big for us")
	}})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("refused fetch: %v", err)
	}
	if sawLen != 30 || sawBytes != want {
		t.Fatalf("Accept saw length %d bytes %d, want 30 and %d", sawLen, sawBytes, want)
	}
	if c, err := hypercore.Open(ctx, st, nil); err == nil && c.Length() != 0 {
		t.Fatalf("a refused fetch stored %d blocks", c.Length())
	}
	res, err := Dial(ctx, s.addr, src.Key(), st, FetchOptions{Accept: func(l, b uint64) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Length != 30 || res.Bytes != want {
		t.Fatalf("fetched %+v", res)
	}
}
