// Package bench measures the hoster against the machine it runs on, in the
// same run, over loopback HTTP with 64 KiB blocks:
//
//   - BenchmarkIngest: durable ingest (pushes of 64 blocks, each answered
//     after fsync) in MB/s, process CPU per push and per MB, and its ratio
//     to raw writes of the same bytes to a file with an fsync per 4 MiB
//     ("x-fsync"); BenchmarkIngestSmallPushes the same with pushes of 4
//     blocks (a gateway's push per core for a 1 MiB object),
//     BenchmarkIngestBlockPushes with pushes of one block (64 KiB
//     objects); BenchmarkIngestGatewayPushes with pushes of 10 blocks
//     (what a hoster got per push in bench/s3/network.sh's 1 MiB PUT
//     phase).
//   - BenchmarkPushServer / BenchmarkPushServerOneBlock: pushes of 10
//     blocks (and of one) made before the timer starts and sent one at a
//     time, so that cpu-us/push is nearly all the hoster's (the client
//     neither hashes nor signs).
//   - BenchmarkServeProof / BenchmarkServeBlock: block+proof (and bare
//     block) reads, 4 concurrent clients, in MB/s and requests/s, with the
//     ratio to plain file serving of 64 KiB ranges by a minimal net/http
//     handler ("x-plain") and the process CPU time per served block.
//
// Run: go test ./hoster/bench -run '^$' -bench . -benchtime 200x
package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/server"
	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/hypercore"
)

const (
	blockSize = 64 << 10
	perPush   = 64 // 4 MiB pushes
)

type setup struct {
	st   *store.Store
	srv  *httptest.Server
	c    *client.Client
	core *hypercore.Core
	priv ed25519.PrivateKey
}

func newSetup(b *testing.B, blocks int) *setup {
	b.Helper()
	ctx := context.Background()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	wc, err := hypercore.Create(ctx, hypercore.NewMemStorage(), priv, false)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, blockSize)
	for i := 0; i < blocks; i += perPush {
		var bs [][]byte
		for j := 0; j < perPush && i+j < blocks; j++ {
			rand.Read(buf)
			bs = append(bs, append([]byte(nil), buf...))
		}
		if _, err := wc.Append(ctx, bs...); err != nil {
			b.Fatal(err)
		}
	}
	st, err := store.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	info := wc.Info()
	if err := st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: 1}, Key: info.Key, Manifest: info.Manifest, Length: info.Length}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Store: st}))
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	c, err := client.New(srv.URL, &http.Client{Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close(); st.Close() })
	return &setup{st: st, srv: srv, c: c, core: wc, priv: priv}
}

func (s *setup) pushAll(b *testing.B) {
	if _, err := s.c.PushCore(context.Background(), s.core, s.priv, s.core.Length(), perPush*blockSize); err != nil {
		b.Fatal(err)
	}
}

// rawFsync writes n bytes to a fresh file in chunks of chunk bytes, with
// an fsync after each, and returns the time it took.
func rawFsync(b *testing.B, n, chunk int) time.Duration {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, chunk)
	rand.Read(buf)
	t0 := time.Now()
	for w := 0; w < n; w += chunk {
		if _, err := f.Write(buf[:min(chunk, n-w)]); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0)
}

func BenchmarkIngest(b *testing.B) { benchIngest(b, perPush) }

// BenchmarkIngestSmallPushes pushes 4 blocks (256 KiB) at a time, what
// a gateway's pusher sends a hoster per core for a 1 MiB object at k=4:
// the cost per push (HTTP, assignment check, fsyncs, the follower's
// look at the core) weighs more than with 4 MiB pushes.
func BenchmarkIngestSmallPushes(b *testing.B) { benchIngest(b, 4) }

// BenchmarkIngestGatewayPushes pushes 10 blocks (640 KiB) at a time,
// what a hoster got per push in bench/s3/network.sh's 1 MiB PUT phase
// (about 115 pushes of 1110 blocks per hoster: the gateway's pusher
// sends one push per core at a time, carrying all that is new, so
// several objects' blocks ride in one push).
func BenchmarkIngestGatewayPushes(b *testing.B) { benchIngest(b, 10) }

// BenchmarkIngestBlockPushes pushes one block at a time, what a hoster
// gets per core for a 64 KiB object: the cost per push is all fixed
// cost (HTTP, assignment check, signature check, one commit's fsyncs).
func BenchmarkIngestBlockPushes(b *testing.B) { benchIngest(b, 1) }

// benchIngest pushes b.N pushes of per blocks each and reports MB/s, the
// process CPU time (client and server: the client signs every push) per
// push and per MB, and the ratio to raw writes with an fsync per push.
func benchIngest(b *testing.B, per int) {
	blocks := max(b.N, 1) * per
	s := newSetup(b, blocks)
	b.SetBytes(int64(per * blockSize))
	b.ResetTimer()
	c0, t0 := cpuTime(), time.Now()
	if _, err := s.c.PushCore(context.Background(), s.core, s.priv, s.core.Length(), per*blockSize); err != nil {
		b.Fatal(err)
	}
	dt, cpu := time.Since(t0), cpuTime()-c0
	b.StopTimer()
	raw := rawFsync(b, blocks*blockSize, per*blockSize)
	mb := float64(blocks*blockSize) / 1e6
	b.ReportMetric(mb/dt.Seconds(), "MB/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(max(b.N, 1)), "cpu-us/push")
	b.ReportMetric(mb/cpu.Seconds(), "MB/cpu-s")
	b.ReportMetric(mb/raw.Seconds(), "raw-fsync-MB/s")
	b.ReportMetric(raw.Seconds()/dt.Seconds(), "x-fsync")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// load runs n requests over conc goroutines; get(i) does request i.
func load(b *testing.B, n, conc int, get func(i int) (int, error)) (time.Duration, time.Duration, int64) {
	var next atomic.Int64
	var bytes atomic.Int64
	var wg sync.WaitGroup
	c0, t0 := cpuTime(), time.Now()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				k, err := get(i)
				if err != nil {
					b.Error(err)
					return
				}
				bytes.Add(int64(k))
			}
		}()
	}
	wg.Wait()
	return time.Since(t0), cpuTime() - c0, bytes.Load()
}

// plainServer serves 64 KiB ranges of a file, the least a block server does.
func plainServer(b *testing.B, blocks int) (*httptest.Server, *http.Client) {
	path := filepath.Join(b.TempDir(), "plain")
	buf := make([]byte, blocks*blockSize)
	rand.Read(buf)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		blk := make([]byte, blockSize)
		if _, err := f.ReadAt(blk, int64(i%blocks)*blockSize); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(blockSize))
		w.Write(blk)
	}))
	b.Cleanup(srv.Close)
	return srv, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
}

func benchServe(b *testing.B, proof bool) {
	const blocks, conc = 256, 4
	s := newSetup(b, blocks)
	s.pushAll(b)
	ctx := context.Background()
	key := s.core.Key()
	length := uint64(blocks)
	n := max(b.N, 1)
	b.SetBytes(blockSize)
	b.ResetTimer()
	dt, cpu, _ := load(b, n, conc, func(i int) (int, error) {
		if proof {
			p, raw, err := s.c.Proof(ctx, key, uint64(i%blocks), length)
			if err != nil {
				return 0, err
			}
			_ = p
			return len(raw), nil
		}
		blk, err := s.c.Block(ctx, key, uint64(i%blocks))
		return len(blk), err
	})
	b.StopTimer()
	psrv, pc := plainServer(b, blocks)
	pdt, pcpu, _ := load(b, n, conc, func(i int) (int, error) {
		resp, err := pc.Get(fmt.Sprintf("%s/?i=%d", psrv.URL, i))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		k, err := io.Copy(io.Discard, resp.Body)
		return int(k), err
	})
	mb := float64(n*blockSize) / 1e6
	b.ReportMetric(float64(n)/dt.Seconds(), "req/s")
	b.ReportMetric(mb/dt.Seconds(), "MB/s")
	b.ReportMetric(float64(n)/pdt.Seconds(), "plain-req/s")
	b.ReportMetric(pdt.Seconds()/dt.Seconds(), "x-plain")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-us/block")
	b.ReportMetric(float64(pcpu.Microseconds())/float64(n), "plain-cpu-us/block")
}

func BenchmarkServeProof(b *testing.B) { benchServe(b, true) }
func BenchmarkServeBlock(b *testing.B) { benchServe(b, false) }

// BenchmarkPushServer is BenchmarkIngestGatewayPushes with the client's
// work taken out, so that cpu-us/push is nearly all the hoster's: the
// pushes (10 blocks of 64 KiB, the size measured in bench/s3/network.sh's
// 1 MiB PUT phase) are made before the timer starts, with the same ten
// block contents in every push (the writer signs each length), and sent
// one at a time to one core as the gateway's pusher does (wire encoding
// streamed from the blocks; no hashing or signing on the client side).
func BenchmarkPushServer(b *testing.B) { benchPushServer(b, 10) }

// BenchmarkPushServerOneBlock is BenchmarkPushServer with one block per
// push: the fixed cost of a push.
func BenchmarkPushServerOneBlock(b *testing.B) { benchPushServer(b, 1) }

func benchPushServer(b *testing.B, per int) {
	ctx := context.Background()
	n := max(b.N, 1)
	s := newSetup(b, 0)
	blocks := make([][]byte, per)
	for i := range blocks {
		blocks[i] = make([]byte, blockSize)
		rand.Read(blocks[i])
	}
	pushes := make([]wire.Push, n)
	for i := range pushes {
		start := s.core.Length()
		if _, err := s.core.Append(ctx, blocks...); err != nil {
			b.Fatal(err)
		}
		pushes[i] = wire.Push{Start: start, Signature: s.core.Info().Signature, Blocks: blocks}
	}
	key := s.core.Key()
	b.SetBytes(int64(per * blockSize))
	b.ReportAllocs()
	b.ResetTimer()
	c0, t0 := cpuTime(), time.Now()
	for i := range pushes {
		if _, err := s.c.Push(ctx, key, &pushes[i]); err != nil {
			b.Fatal(err)
		}
	}
	dt, cpu := time.Since(t0), cpuTime()-c0
	b.StopTimer()
	mb := float64(n*per*blockSize) / 1e6
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-us/push")
	b.ReportMetric(mb/cpu.Seconds(), "MB/cpu-s")
	b.ReportMetric(float64(dt.Microseconds())/float64(n), "us/push")
}
