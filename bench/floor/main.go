//go:build unix

// Command floor measures on this machine the CPU cost of the work an S3
// PUT through the network backend cannot avoid, per phase of the S3
// benchmark (bench/s3/network.sh: 256 MiB of objects, k=4 m=2), and the
// same for versitygw, and prints what that implies for the best wall
// time on the machine's cores beside versitygw's measured wall time.
//
// Every step runs on one goroutine over preallocated buffers and is timed
// in CPU seconds of the process (getrusage), so the load of the machine
// moves it little:
//
//	gateway: MD5 (the ETag), SHA-256 (the SigV4 payload hash), CRC32 (the
//	SDK's checksum), AES-256-GCM seal in segments of crypt.Segment,
//	Reed-Solomon 4+2 encode in stripes of 4 x 64 KiB, BLAKE2b leaf hashes
//	(hypercore.LeafHash) of the 1.5x bytes of blocks
//	hosters: BLAKE2b leaf hashes of the same blocks again (they verify
//	every block they store) and one buffered write of them (no fsync)
//	versitygw: SHA-256 + MD5 and one buffered write of the object bytes
//
//	go run ./bench/floor [-bytes 256MiB] [-vgw-wall 1MiB=1.9,16MiB=0.9] [-client 0.7]
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"hash"
	"hash/crc32"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/reedsolomon"

	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
)

const (
	k, m = 4, 2
	// window is the buffer cycled over: larger than the caches, as a
	// stream of uploads is.
	window = 64 << 20
)

func main() {
	total := flag.String("bytes", "256MiB", "object bytes per phase")
	vgw := flag.String("vgw-wall", "1MiB=1.9,16MiB=0.9", "versitygw's measured wall seconds per phase, by object size")
	client := flag.Float64("client", 0.7, "CPU seconds the S3 client spends per phase (measured by bench/s3/network.sh; it shares the machine)")
	dir := flag.String("dir", os.TempDir(), "directory of the write steps' temporary file")
	flag.Parse()
	n, err := parseSize(*total)
	if err != nil {
		fail(err)
	}
	walls, err := parseWalls(*vgw)
	if err != nil {
		fail(err)
	}
	if err := run(n, walls, *client, *dir); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "floor:", err)
	os.Exit(1)
}

type step struct {
	who, what string
	bytes     int64
	cpu       time.Duration
}

func run(n int64, walls map[string]float64, clientCPU float64, dir string) error {
	n = n / volume.BlockSize / k * volume.BlockSize * k // whole stripes
	buf := make([]byte, window+volume.BlockSize)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	blocks := n / k * (k + m) // bytes of blocks the hosters hold
	var steps []step
	add := func(who, what string, bytes int64, f func() error) error {
		runtime.GC()
		t0 := cpuTime()
		if err := f(); err != nil {
			return fmt.Errorf("%s %s: %w", who, what, err)
		}
		steps = append(steps, step{who, what, bytes, cpuTime() - t0})
		return nil
	}
	hashAll := func(h hash.Hash, chunk int) func() error {
		return func() error {
			each(buf, n, chunk, func(b []byte) { h.Write(b) })
			h.Sum(nil)
			return nil
		}
	}
	if err := add("gateway", "MD5 (ETag)", n, hashAll(md5.New(), 1<<20)); err != nil {
		return err
	}
	if err := add("gateway", "SHA-256 (SigV4 payload)", n, hashAll(sha256.New(), 1<<20)); err != nil {
		return err
	}
	if err := add("gateway", "CRC32 (SDK checksum)", n, hashAll(crc32.NewIEEE(), 1<<20)); err != nil {
		return err
	}
	if err := add("gateway", "AES-256-GCM seal", n, func() error { return seal(buf, n) }); err != nil {
		return err
	}
	if err := add("gateway", "Reed-Solomon 4+2 encode", n, func() error { return encode(buf, n) }); err != nil {
		return err
	}
	leaves := func() error {
		each(buf, blocks, volume.BlockSize, func(b []byte) { hypercore.LeafHash(b) })
		return nil
	}
	if err := add("gateway", "BLAKE2b leaf hashes (blocks)", blocks, leaves); err != nil {
		return err
	}
	if err := add("hosters", "BLAKE2b leaf hashes (verify)", blocks, leaves); err != nil {
		return err
	}
	if err := add("hosters", "write of the blocks (no fsync)", blocks, func() error { return write(dir, buf, blocks, volume.BlockSize) }); err != nil {
		return err
	}
	if err := add("versitygw", "SHA-256 + MD5", n, func() error {
		hs, hm := sha256.New(), md5.New()
		each(buf, n, 1<<20, func(b []byte) { hs.Write(b); hm.Write(b) })
		return nil
	}); err != nil {
		return err
	}
	if err := add("versitygw", "write of the objects (no fsync)", n, func() error { return write(dir, buf, n, 1<<20) }); err != nil {
		return err
	}

	fmt.Printf("floor of one PUT phase of %s of objects (k=%d m=%d: %s of blocks), CPU seconds on this machine\n",
		human(n), k, m, human(blocks))
	sums := map[string]float64{}
	for _, s := range steps {
		sec := s.cpu.Seconds()
		sums[s.who] += sec
		fmt.Printf("  %-9s %-32s %8s  %5.2f s  (%4.0f MB/s)\n", s.who, s.what, human(s.bytes), sec, float64(s.bytes)/sec/1e6)
	}
	cores := float64(runtime.NumCPU())
	network := sums["gateway"] + sums["hosters"]
	fmt.Printf("network PUT floor: gateway %.2f + hosters %.2f = %.2f CPU-s; with the client's %.2f: %.2f CPU-s\n",
		sums["gateway"], sums["hosters"], network, clientCPU, network+clientCPU)
	fmt.Printf("versitygw floor:   %.2f CPU-s; with the client's: %.2f CPU-s\n", sums["versitygw"], sums["versitygw"]+clientCPU)
	bestNet := (network + clientCPU) / cores
	bestVgw := (sums["versitygw"] + clientCPU) / cores
	fmt.Printf("best wall on %.0f cores (every core busy, nothing else running): network %.2f s, versitygw %.2f s\n", cores, bestNet, bestVgw)
	sizes := make([]string, 0, len(walls))
	for s := range walls {
		sizes = append(sizes, s)
	}
	sort.Strings(sizes)
	for _, s := range sizes {
		w := walls[s]
		fmt.Printf("  %-6s versitygw measured %.2f s: 0.5x needs the network phase in <= %.2f s (%.2f s above its floor); at the floor it would be %.2fx\n",
			s, w, 2*w, 2*w-bestNet, w/bestNet)
	}
	return nil
}

// each calls f on n bytes of buf in chunks of size, cycling over the
// window.
func each(buf []byte, n int64, size int, f func([]byte)) {
	off := 0
	for done := int64(0); done < n; done += int64(size) {
		if off+size > len(buf) {
			off = 0
		}
		f(buf[off : off+size])
		off += size
	}
}

// seal encrypts n bytes in segments of crypt.Segment.
func seal(buf []byte, n int64) error {
	key := make([]byte, 32)
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	out := make([]byte, 0, crypt.Segment+aead.Overhead())
	nonce := make([]byte, aead.NonceSize())
	var i uint64
	each(buf, n, crypt.Segment, func(b []byte) {
		i++
		nonce[0], nonce[1] = byte(i), byte(i>>8)
		out = aead.Seal(out[:0], nonce, b, nil)
	})
	return nil
}

// encode computes the parity of n bytes in stripes of k blocks.
func encode(buf []byte, n int64) error {
	enc, err := reedsolomon.New(k, m)
	if err != nil {
		return err
	}
	shards := make([][]byte, k+m)
	for j := k; j < k+m; j++ {
		shards[j] = make([]byte, volume.BlockSize)
	}
	var encErr error
	each(buf, n, k*volume.BlockSize, func(b []byte) {
		for j := range k {
			shards[j] = b[j*volume.BlockSize : (j+1)*volume.BlockSize]
		}
		if err := enc.Encode(shards); err != nil && encErr == nil {
			encErr = err
		}
	})
	return encErr
}

// write writes n bytes in writes of size to a new file under dir and
// removes it.
func write(dir string, buf []byte, n int64, size int) error {
	f, err := os.CreateTemp(dir, "floor-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	var werr error
	each(buf, n, size, func(b []byte) {
		if _, err := f.Write(b); err != nil && werr == nil {
			werr = err
		}
	})
	return werr
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err) // cannot fail with RUSAGE_SELF
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suf, mm := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), mm
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("size %q: want e.g. 256MiB", s)
	}
	return v * mult, nil
}

func parseWalls(s string) (map[string]float64, error) {
	out := map[string]float64{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(kv, "=")
		w, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil || w <= 0 {
			return nil, errors.New("-vgw-wall: want SIZE=SECONDS,...")
		}
		out[name] = w
	}
	return out, nil
}

func human(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}
