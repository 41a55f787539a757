package network

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	gonet "net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// BenchmarkPutGet writes blobs through an encrypting network
// store with k=4 m=2 over six real hoster API servers (hoster/server over
// hoster/store with fsync, on loopback, in this process), 8 writers at
// once: the whole write path (encryption, RS, local cores, pushes, the
// hosters' storing). Profile with -cpuprofile.
//
// pushmem=off keeps no block in memory for the pushes (they read the
// local cores, Config.PushMemBytes < 0).
func BenchmarkPutGet(b *testing.B) {
	for _, mem := range []int64{0, -1} {
		for _, size := range []int{64 << 10, 1 << 20, 16 << 20} {
			name := fmt.Sprintf("%dKiB", size>>10)
			if mem < 0 {
				name = "pushmem=off/" + name
			}
			b.Run(name, func(b *testing.B) { benchPut(b, size, mem) })
		}
	}
}

func benchPut(b *testing.B, size int, pushMem int64) {
	net := benchHosters(b, 6)
	blobs := benchStore(b, net, 0, pushMem)
	data := make([]byte, size)
	rand.Read(data)
	var refs []store.BlobRef
	var mu sync.Mutex
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	// CPU of the whole process: the gateway's work and the six
	// hosters' (their servers run in this process too).
	cpu0 := cpuTime(b)
	defer func() { b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op") }()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				ref, err := store.WriteBlob(ctx, blobs, bytes.NewReader(data), int64(size), nil)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				refs = append(refs, ref)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func benchHosters(b *testing.B, n int) *testNet {
	net := &testNet{t: b, moved: map[int]string{}}
	for range n {
		net.hosters = append(net.hosters, newTestHoster(b))
	}
	return net
}

func benchStore(b *testing.B, net *testNet, cacheBytes, pushMem int64) *crypt.Blobs {
	c, _ := benchStoreDials(b, net, cacheBytes, pushMem)
	return c
}

// benchStoreDials is benchStore that also counts the connections its
// reads open to hosters.
func benchStoreDials(b *testing.B, net *testNet, cacheBytes, pushMem int64) (*crypt.Blobs, *atomic.Int64) {
	c, _, dials := benchStoreAll(b, net, cacheBytes, pushMem)
	return c, dials
}

// benchStoreVols is benchStore that also returns the volume store.
func benchStoreVols(b *testing.B, net *testNet, cacheBytes, pushMem int64) (*crypt.Blobs, *Blobs) {
	c, vols, _ := benchStoreAll(b, net, cacheBytes, pushMem)
	return c, vols
}

func benchStoreAll(b *testing.B, net *testNet, cacheBytes, pushMem int64) (*crypt.Blobs, *Blobs, *atomic.Int64) {
	dir := b.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { meta.Close() })
	dials := new(atomic.Int64)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	dial := t.DialContext
	t.DialContext = func(ctx context.Context, network, addr string) (gonet.Conn, error) {
		dials.Add(1)
		return dial(ctx, network, addr)
	}
	remote, err := NewRemote(RemoteConfig{Locator: net, HTTP: &http.Client{Transport: t}})
	if err != nil {
		b.Fatal(err)
	}
	vols, err := Open(Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 4, M: 2}, Shipper: net, Journal: meta,
		Remote: remote, CacheBytes: cacheBytes, PushMemBytes: pushMem})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { vols.Close() })
	c, err := crypt.New(vols, testMaster)
	if err != nil {
		b.Fatal(err)
	}
	return c, vols, dials
}

// BenchmarkGet reads blobs back through an encrypting network store over
// six real hoster API servers, 8 readers at once: "hosters" with every
// cache off (each read fetches from the hosters, decrypts), "cache" with
// the decrypted-segment cache filled as the blobs were written (crypt.Cache).
// Profile with -cpuprofile.
func BenchmarkGet(b *testing.B) {
	for _, mode := range []string{"hosters", "cache"} {
		for _, size := range []int{64 << 10, 1 << 20, 16 << 20} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode, size>>10), func(b *testing.B) {
				net := benchHosters(b, 6)
				blobs, dials := benchStoreDials(b, net, 0, 0)
				if mode == "cache" {
					blobs.Cache = crypt.NewCache(1 << 30)
				}
				data := make([]byte, size)
				rand.Read(data)
				var refs []store.BlobRef
				for range max(8, (64<<20)/size) {
					ref, err := store.WriteBlob(ctx, blobs, bytes.NewReader(data), int64(size), nil)
					if err != nil {
						b.Fatal(err)
					}
					refs = append(refs, ref)
				}
				b.SetBytes(int64(size))
				cpu0, dials0 := cpuTime(b), dials.Load()
				b.ResetTimer()
				defer func() {
					b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
					b.ReportMetric(float64(dials.Load()-dials0)/float64(b.N), "dials/op")
				}()
				var next atomic.Int64
				var wg sync.WaitGroup
				for range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						buf := make([]byte, 256<<10)
						for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
							ref := refs[int(i)%len(refs)]
							rc, err := blobs.Open(ctx, ref, 0, ref.Size)
							if err != nil {
								b.Error(err)
								return
							}
							n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, buf)
							rc.Close()
							if err != nil || n != ref.Size {
								b.Errorf("read %d of %d bytes: %v", n, ref.Size, err)
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		}
	}
}

// nopShipper is a CoreShipper whose hosters take everything at once: what
// BenchmarkPut measures is the gateway's own work.
type nopShipper struct{}

func (nopShipper) Ship(context.Context, *Volume, uint64) error          { return nil }
func (nopShipper) Prepare(context.Context, *Volume, uint64) error       { return nil }
func (nopShipper) PushCore(context.Context, *Volume, int, uint64) error { return nil }
func (nopShipper) Shipped(*Volume, uint64)                              {}

// BenchmarkPut writes blobs through an encrypting network store (k=4 m=2,
// local cores without fsync as with real hosters) whose shipper acknowledges
// at once, 8 writers at once: the CPU the gateway spends per byte PUT
// (encryption, buffering, RS, merkle hashes, local cores), without the
// hosters. Compare with -cpuprofile / the reported allocations.
func BenchmarkPut(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { meta.Close() })
			vols, err := Open(Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 4, M: 2}, Shipper: nopShipper{}, Journal: meta})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { vols.Close() })
			blobs, err := crypt.New(vols, testMaster)
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, size)
			rand.Read(data)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := store.WriteBlob(ctx, blobs, bytes.NewReader(data), int64(size), nil); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
			// Bytes appended to the cores per byte PUT: n/k for full
			// stripes, a little more for the rounding of short ones.
			var held uint64
			vols.mu.Lock()
			for _, v := range vols.vols {
				for _, c := range v.Cores {
					if c != nil {
						held += c.Info().ByteLength
					}
				}
			}
			vols.mu.Unlock()
			b.ReportMetric(float64(held)/float64(b.N*size), "stored/B")
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used: the
// measure of cost that the load of a shared machine barely moves.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPutRecords measures the store side of a PUT, the blob and the
// metadata commit that references it, 8 writers at once, over an
// encrypting network store with local cores (no hosters: the cost of the
// records stands out): "fresh" keeps the usage records in the metadata
// database and commits blobs fresh (one fsynced bbolt commit per PUT, the
// version's); "file" keeps them in a file of their own, as before (three:
// the usage record, the pending record, the version). cpu-ns/op is the
// process's CPU per PUT.
func BenchmarkPutRecords(b *testing.B) {
	for _, mode := range []string{"fresh", "file"} {
		for _, size := range []int{64 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode, size>>10), func(b *testing.B) {
				dir := b.TempDir()
				meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { meta.Close() })
				if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
					b.Fatal(err)
				}
				var j Journal = meta
				if mode == "file" {
					j = fileJournal{meta}
				}
				vols, err := Open(Config{Dir: filepath.Join(dir, "net"), Master: testMaster, Layout: volume.Layout{K: 4, M: 2},
					Shipper: nopShipper{}, Journal: j, UsagePath: filepath.Join(dir, "volumes.db")})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { vols.Close() })
				blobs, err := crypt.New(vols, testMaster)
				if err != nil {
					b.Fatal(err)
				}
				data := make([]byte, size)
				rand.Read(data)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuTime(b)
				var next atomic.Int64
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
							ref, err := store.WriteBlob(ctx, blobs, bytes.NewReader(data), int64(size), nil)
							if err != nil {
								b.Error(err)
								return
							}
							obj := store.Object{Key: fmt.Sprint(i), Size: int64(size), Parts: []store.Part{{Number: 1, Size: int64(size), Blob: ref}}}
							if _, _, err := meta.PutObject(ctx, "b", obj, nil); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
