package metalog

import (
	"context"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/datdot/datdot/durable"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/datdot/datdot/gateway/secret"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/gateway/store/network"
	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// Chain is what recovery reads from the chain.
type Chain interface {
	Storage() storagetypes.QueryClient
}

// RecoverConfig configures Recover.
type RecoverConfig struct {
	Master []byte
	Chain  Chain
	// Owner is the account whose orders hold the log (default: the
	// chain account derived from Master).
	Owner string
	// DataDir is the new gateway's data directory: meta.db is created
	// there, the data volumes' cores (with FetchData) under
	// DataDir/network/volumes, the log's state under DataDir/metalog.
	DataDir string
	// MaxGen bounds the scan for the log's generations (default
	// DefaultMaxGen): generations 0 to MaxGen-1 are looked for, and
	// further while the last scanned chunk found one.
	MaxGen uint64
	// FetchData copies every data volume's cores that the metadata
	// references from the hosters (k cores each, data cores first), so
	// that the recovered gateway reads every object locally.
	FetchData bool
	HTTP      *http.Client
	Log       *slog.Logger
	// Orders and Locate replace the chain queries (the owner's orders by
	// first core key; the hoster endpoints per core of an order), for
	// tests and tools that know them otherwise. Chain may then be nil.
	Orders func(ctx context.Context) (map[[32]byte]storagetypes.Order, error)
	Locate func(ctx context.Context, orderID uint64, n int) ([][]string, error)
}

// RecoverStats tells what Recover did.
type RecoverStats struct {
	Gen       uint64        `json:"gen"`
	Frames    int           `json:"frames"`
	Changes   int           `json:"changes"`
	LogBytes  int64         `json:"log_bytes"` // bytes of the log's cores fetched
	Buckets   int           `json:"buckets"`
	Versions  int           `json:"versions"` // versions and hidden versions
	Volumes   int           `json:"volumes"`
	DataBytes int64         `json:"data_bytes"` // bytes of data cores fetched
	Took      time.Duration `json:"took_ns"`
}

// ErrNoLog: no generation of the metadata log was found on chain for
// this master secret.
var ErrNoLog = errors.New("metalog: no metadata log of this master secret on chain")

type orderInfo struct {
	o   storagetypes.Order
	eps [][]string // per core, hoster endpoints
}

// ownerOrders lists the owner's orders by the key of their first core.
func ownerOrders(ctx context.Context, c Chain, owner string) (map[[32]byte]storagetypes.Order, error) {
	out := map[[32]byte]storagetypes.Order{}
	var next []byte
	for {
		res, err := c.Storage().OrdersByOwner(ctx, &storagetypes.QueryOrdersByOwnerRequest{Owner: owner,
			Pagination: &query.PageRequest{Key: next, Limit: 200}})
		if err != nil {
			return nil, fmt.Errorf("metalog: orders of %s: %w", owner, err)
		}
		for _, o := range res.Orders {
			if len(o.Cores) > 0 && len(o.Cores[0].Key) == 32 {
				out[[32]byte(o.Cores[0].Key)] = o
			}
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			return out, nil
		}
		next = res.Pagination.NextKey
	}
}

// endpoints returns, per core of order id, the endpoints of its hosters.
func endpoints(ctx context.Context, c Chain, id uint64, n int) ([][]string, error) {
	res, err := c.Storage().Order(ctx, &storagetypes.QueryOrderRequest{Id: id})
	if err != nil {
		return nil, fmt.Errorf("metalog: order %d: %w", id, err)
	}
	eps := make([][]string, n)
	cache := map[string]string{}
	for _, av := range res.Assignments {
		a := av.Assignment
		if int(a.CoreIndex) >= n {
			continue
		}
		ep, ok := cache[a.Hoster]
		if !ok {
			h, err := c.Storage().Hoster(ctx, &storagetypes.QueryHosterRequest{Address: a.Hoster})
			if err != nil {
				continue
			}
			ep = h.Hoster.Endpoint
			cache[a.Hoster] = ep
		}
		eps[a.CoreIndex] = append(eps[a.CoreIndex], ep)
	}
	return eps, nil
}

// DefaultMaxGen is how many generation numbers recovery looks at by
// default: 2^18, thirty years of hourly rotations (--shred-after 1h).
// Deriving one generation's first core key takes about 30 µs of CPU
// (BenchmarkGenKey), so the scan costs about 8 CPU-seconds, spread over
// every core.
const DefaultMaxGen = 1 << 18

// genChunk is how many generation numbers the scan derives between two
// looks at what it found.
const genChunk = 4096

// findGens returns, in ascending order, the generations of the log
// whose first core is the first core of one of orders. Older generations'
// orders are cancelled and, some time after, pruned from the chain, while
// numbers keep rising (one per rotation): the newest generation may be
// the only one left, at any number. So every number below maxGen is
// derived (in parallel), and the scan goes on past maxGen for as long as
// its last chunk found a generation.
func findGens(ctx context.Context, master []byte, orders map[[32]byte]storagetypes.Order, maxGen uint64) ([]uint64, error) {
	if maxGen == 0 {
		maxGen = DefaultMaxGen
	}
	if len(orders) == 0 {
		return nil, nil
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	var gens []uint64
	for lo := uint64(0); ; lo += genChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		found := make([][]uint64, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for g := lo + uint64(w); g < lo+genChunk; g += uint64(workers) {
					k, err := coreKey(master, secret.MetalogVolumeID(master, g), 0)
					if err != nil {
						errs[w] = err
						return
					}
					if _, ok := orders[k]; ok {
						found[w] = append(found[w], g)
					}
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		n := len(gens)
		for _, f := range found {
			gens = append(gens, f...)
		}
		slices.Sort(gens[n:])
		if lo+genChunk >= maxGen && len(gens) == n {
			return gens, nil
		}
	}
}

func coreKey(master, volID []byte, j int) ([32]byte, error) {
	priv, err := volume.CoreKey(master, volID, j)
	if err != nil {
		return [32]byte{}, err
	}
	return volume.PublicCoreKey(priv), nil
}

// Recover rebuilds a gateway's metadata database in cfg.DataDir from the
// metadata log on the network: it derives the log's core keys from the
// master secret, finds the newest generation among the owner's orders
// whose snapshot is complete, fetches k of its cores from the hosters
// (every block checked against the writer's signature, whose key only the
// master secret gives), decrypts the frames and applies them. With
// FetchData it then copies the data volumes' cores the same way.
func Recover(ctx context.Context, cfg RecoverConfig) (RecoverStats, error) {
	start := time.Now()
	var st RecoverStats
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 5 * time.Minute}
	}
	own, err := secret.ChainAddress(cfg.Master)
	if err != nil {
		return st, err
	}
	if cfg.Owner == "" {
		cfg.Owner = own
	}
	aead, err := newAEAD(secret.MetalogKey(cfg.Master))
	if err != nil {
		return st, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return st, fmt.Errorf("metalog: %w", err)
	}
	metaPath := filepath.Join(cfg.DataDir, "meta.db")
	if _, err := os.Stat(metaPath); err == nil {
		return st, fmt.Errorf("metalog: %s exists: recover into an empty data directory", metaPath)
	}
	if cfg.Orders == nil {
		cfg.Orders = func(ctx context.Context) (map[[32]byte]storagetypes.Order, error) {
			return ownerOrders(ctx, cfg.Chain, cfg.Owner)
		}
	}
	if cfg.Locate == nil {
		cfg.Locate = func(ctx context.Context, id uint64, n int) ([][]string, error) {
			return endpoints(ctx, cfg.Chain, id, n)
		}
	}
	orders, err := cfg.Orders(ctx)
	if err != nil {
		return st, err
	}
	gens, err := findGens(ctx, cfg.Master, orders, cfg.MaxGen)
	if err != nil {
		return st, err
	}
	if len(gens) == 0 {
		hint := ""
		if cfg.Owner == own {
			hint = "; if the gateway paid its orders with another --chain.key, recover with --owner set to that account"
		}
		return st, fmt.Errorf("%w (owner %s has %d orders%s)", ErrNoLog, cfg.Owner, len(orders), hint)
	}
	work := filepath.Join(cfg.DataDir, ".recover")
	defer os.RemoveAll(work)
	var changes [][]local.Change
	var errs []error
	found := false
	for i := len(gens) - 1; i >= 0 && !found; i-- {
		g := gens[i]
		volID := secret.MetalogVolumeID(cfg.Master, g)
		k0, _ := coreKey(cfg.Master, volID, 0)
		o := orders[k0]
		sv, fetched, err := fetchVolume(ctx, cfg, o, volID, filepath.Join(work, fmt.Sprintf("gen-%d", g)), false)
		st.LogBytes += fetched
		if err != nil {
			errs = append(errs, fmt.Errorf("generation %d (order %d): %w", g, o.Id, err))
			continue
		}
		changes, st.Frames, err = readGeneration(sv, aead, volID, g)
		sv.close()
		if err != nil {
			errs = append(errs, fmt.Errorf("generation %d (order %d): %w", g, o.Id, err))
			continue
		}
		st.Gen, found = g, true
		cfg.Log.Info("metadata log found", "gen", g, "order", o.Id, "frames", st.Frames)
	}
	if !found {
		return st, fmt.Errorf("metalog: no generation could be read: %w", errors.Join(errs...))
	}
	meta, err := local.OpenMeta(metaPath)
	if err != nil {
		return st, err
	}
	defer meta.Close()
	vols := map[string]bool{}
	buckets := map[string]bool{}
	versions := map[[2]string]int{}
	for _, batch := range changes {
		st.Changes += len(batch)
		for _, c := range batch {
			switch c.Kind {
			case local.MarkBucket:
				buckets[c.Bucket] = c.Record != nil
			case local.MarkKey:
				versions[[2]string{c.Bucket, c.Key}] = len(c.Entries) + len(c.Hidden)
			}
			if !cfg.FetchData {
				continue
			}
			if c.Kind == local.MarkReloc && c.Record != nil {
				var es []store.Extent
				if json.Unmarshal(c.Record, &es) == nil {
					for _, e := range es {
						vols[e.Volume] = true
					}
				}
			}
			for _, o := range changeObjects(c) {
				for _, p := range o.Parts {
					for _, e := range p.Blob.Extents {
						vols[e.Volume] = true
					}
				}
			}
			for _, kv := range c.Parts {
				p, err := local.DecodePartRecord(kv)
				if err != nil {
					return st, fmt.Errorf("metalog: %w", err)
				}
				for _, e := range p.Blob.Extents {
					vols[e.Volume] = true
				}
			}
		}
		if err := meta.ApplyChanges(ctx, batch); err != nil {
			return st, err
		}
	}
	if err := meta.FinishRebuild(ctx); err != nil {
		return st, err
	}
	for _, ok := range buckets {
		if ok {
			st.Buckets++
		}
	}
	for _, n := range versions {
		st.Versions += n
	}
	// The recovered gateway's log continues with a new generation.
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "metalog"), 0o755); err != nil {
		return st, fmt.Errorf("metalog: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(cfg.DataDir, "metalog", "highest"), uintLine(gens[len(gens)-1])); err != nil {
		return st, err
	}
	// The old machine's generations are older than the one the recovered
	// writer starts: it cancels their orders once its own snapshot is on
	// the hosters, as for any older generation (their directories, with
	// the order id, are how the writer knows them). Orders of another
	// account than the master secret's are left alone: the recovered
	// gateway could not cancel them.
	if cfg.Owner == own {
		for _, g := range gens {
			k0, _ := coreKey(cfg.Master, secret.MetalogVolumeID(cfg.Master, g), 0)
			o := orders[k0]
			if o.IsEnded() {
				continue
			}
			dir := filepath.Join(cfg.DataDir, "metalog", fmt.Sprintf("gen-%d", g))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return st, fmt.Errorf("metalog: %w", err)
			}
			if err := durable.WriteFile(filepath.Join(dir, "order"), []byte(strconv.FormatUint(o.Id, 10)+"\n")); err != nil {
				return st, err
			}
		}
	}
	if cfg.FetchData {
		ids := make([]string, 0, len(vols))
		for v := range vols {
			ids = append(ids, v)
		}
		slices.Sort(ids)
		for _, hexID := range ids {
			id, err := hex.DecodeString(hexID)
			if err != nil || len(id) == 0 || len(id) > volume.MaxVolumeIDSize {
				return st, fmt.Errorf("metalog: bad volume id %q in the metadata", hexID)
			}
			k0, err := coreKey(cfg.Master, id, 0)
			if err != nil {
				return st, err
			}
			o, ok := orders[k0]
			if !ok {
				return st, fmt.Errorf("metalog: volume %s has no order of %s on chain", hexID, cfg.Owner)
			}
			dir := filepath.Join(cfg.DataDir, "network", "volumes", hexID)
			sv, fetched, err := fetchVolume(ctx, cfg, o, id, dir, true)
			st.DataBytes += fetched
			if err != nil {
				return st, fmt.Errorf("metalog: volume %s (order %d): %w", hexID, o.Id, err)
			}
			sv.close()
			if err := os.WriteFile(filepath.Join(dir, "order"), []byte(strconv.FormatUint(o.Id, 10)+"\n"), 0o644); err != nil {
				return st, fmt.Errorf("metalog: %w", err)
			}
			// The recovered gateway reads the volume with the layout
			// it was written with, whatever its own flags.
			if err := network.WriteLayout(dir, sv.layout); err != nil {
				return st, err
			}
			st.Volumes++
		}
	}
	st.Took = time.Since(start)
	return st, nil
}

// changeObjects decodes the versions a change carries.
func changeObjects(c local.Change) []store.Object {
	var out []store.Object
	for _, kv := range c.Entries {
		var o store.Object
		if json.Unmarshal(kv.V, &o) == nil {
			out = append(out, o)
		}
	}
	for _, kv := range c.Hidden {
		var r struct {
			Obj store.Object `json:"obj"`
		}
		if json.Unmarshal(kv.V, &r) == nil {
			out = append(out, r.Obj)
		}
	}
	return out
}

// readGeneration decodes a generation's stream: a complete snapshot, then
// changes. It returns the changes in batches, in order.
func readGeneration(sv *fetchedVolume, aead cipher.AEAD, volID []byte, g uint64) ([][]local.Change, int, error) {
	r := &streamReader{read: sv.read, size: sv.streamSize(), stripeSize: sv.layout.StripeSize(), aead: aead, volID: volID}
	var out [][]local.Change
	frames := 0
	ended := false
	for {
		b, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, frames, err
		}
		frames++
		if b.Gen != g {
			return nil, frames, fmt.Errorf("%w: frame of generation %d in generation %d", ErrFrame, b.Gen, g)
		}
		switch b.Kind {
		case kindSnapshot:
			if ended {
				return nil, frames, fmt.Errorf("%w: snapshot frame after the snapshot's end", ErrFrame)
			}
		case kindSnapEnd:
			ended = true
		case kindChanges:
			if !ended {
				return nil, frames, fmt.Errorf("%w: changes before the snapshot's end", ErrFrame)
			}
		default:
			return nil, frames, fmt.Errorf("%w: unknown frame kind %q", ErrFrame, b.Kind)
		}
		if len(b.Changes) > 0 {
			out = append(out, b.Changes)
		}
	}
	if !ended {
		return nil, frames, errors.New("the generation's snapshot is incomplete")
	}
	return out, frames, nil
}

// fetchedVolume is a volume's cores copied from hosters (nil where not
// fetched), read stripe by stripe.
type fetchedVolume struct {
	layout volume.Layout
	coder  *volume.Coder
	cores  []*hypercore.Core
	length uint64 // stripes readable from every fetched core
	cache  map[uint64][]byte
}

func (v *fetchedVolume) close() {
	for _, c := range v.cores {
		if c != nil {
			c.Close()
		}
	}
}

func (v *fetchedVolume) streamSize() int64 { return int64(v.length) * v.layout.StripeSize() }

// stripe returns the data of stripe s: k·B bytes, of which a short stripe
// (docs/volume-format.md, v2) holds the first k·b and the rest, its hole,
// reads as zeros (as the padding of a v1 stripe did: the frame reader
// skips zeros to the next stripe).
func (v *fetchedVolume) stripe(s uint64) ([]byte, error) {
	if b, ok := v.cache[s]; ok {
		return b, nil
	}
	ctx := context.Background()
	shards := make([][]byte, v.layout.N())
	size := 0
	for j, c := range v.cores {
		if c == nil {
			continue
		}
		b, err := c.Get(ctx, s)
		if err != nil || !volume.ValidBlockSize(len(b)) {
			continue
		}
		if size != 0 && len(b) != size {
			// Every core's block verified against its writer's
			// signature: the writer broke the format.
			return nil, fmt.Errorf("metalog: stripe %d: blocks of %d and %d bytes (all blocks of a stripe have one length)", s, size, len(b))
		}
		size = len(b)
		shards[j] = b
	}
	missing := false
	for j := 0; j < v.layout.K; j++ {
		missing = missing || shards[j] == nil
	}
	if missing {
		if err := v.coder.ReconstructData(shards); err != nil {
			return nil, fmt.Errorf("metalog: stripe %d: %w", s, err)
		}
	}
	out := make([]byte, v.layout.StripeSize())
	for j := 0; j < v.layout.K; j++ {
		copy(out[j*len(shards[j]):], shards[j])
	}
	if len(v.cache) > 64 {
		clear(v.cache)
	}
	v.cache[s] = out
	return out, nil
}

// read returns n bytes of the stream at off.
func (v *fetchedVolume) read(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > v.streamSize() {
		return nil, io.EOF
	}
	ss := v.layout.StripeSize()
	out := make([]byte, 0, n)
	for n > 0 {
		s := uint64(off / ss)
		data, err := v.stripe(s)
		if err != nil {
			return nil, err
		}
		in := off % ss
		take := min(n, ss-in)
		out = append(out, data[in:in+take]...)
		off += take
		n -= take
	}
	return out, nil
}

// fetchVolume copies k cores of order o (the volume volID) from their
// hosters into dir/core-NNN, data cores first; with keepAll false the
// copies are working files. It returns the bytes fetched.
func fetchVolume(ctx context.Context, cfg RecoverConfig, o storagetypes.Order, volID []byte, dir string, _ bool) (*fetchedVolume, int64, error) {
	if o.ErasureK == 0 || o.ErasureN <= o.ErasureK {
		return nil, 0, fmt.Errorf("order %d is not erasure coded (k=%d, n=%d)", o.Id, o.ErasureK, o.ErasureN)
	}
	layout := volume.Layout{K: int(o.ErasureK), M: int(o.ErasureN - o.ErasureK)}
	coder, err := volume.NewCoder(layout)
	if err != nil {
		return nil, 0, err
	}
	if len(o.Cores) != layout.N() {
		return nil, 0, fmt.Errorf("order %d has %d cores, want %d", o.Id, len(o.Cores), layout.N())
	}
	eps, err := cfg.Locate(ctx, o.Id, layout.N())
	if err != nil {
		return nil, 0, err
	}
	v := &fetchedVolume{layout: layout, coder: coder, cores: make([]*hypercore.Core, layout.N()), cache: map[uint64][]byte{}}
	var total int64
	var errs []error
	have := 0
	for j := 0; j < layout.N() && have < layout.K; j++ {
		key, err := coreKey(cfg.Master, volID, j)
		if err != nil {
			return nil, total, err
		}
		if [32]byte(o.Cores[j].Key) != key {
			return nil, total, fmt.Errorf("order %d core %d is not this volume's core", o.Id, j)
		}
		c, n, err := fetchCore(ctx, cfg.HTTP, eps[j], key, filepath.Join(dir, fmt.Sprintf("core-%03d", j)))
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("core %d: %w", j, err))
			continue
		}
		v.cores[j] = c
		have++
	}
	if have < layout.K {
		v.close()
		return nil, total, fmt.Errorf("%d of %d cores fetched, %d needed: %w", have, layout.N(), layout.K, errors.Join(errs...))
	}
	v.length = ^uint64(0)
	for _, c := range v.cores {
		if c != nil {
			v.length = min(v.length, c.Length())
		}
	}
	return v, total, nil
}

// fetchCore copies core key from the first of endpoints that holds it
// (the longest copy first) into dir, as a replica: the blocks are
// appended in one commit checked against the writer's signature.
func fetchCore(ctx context.Context, hc *http.Client, endpoints []string, key [32]byte, dir string) (*hypercore.Core, int64, error) {
	type cand struct {
		c    *client.Client
		info *client.Info
	}
	var cands []cand
	var errs []error
	for _, ep := range endpoints {
		c, err := client.New(ep, hc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info, err := c.Info(ctx, key)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ep, err))
			continue
		}
		cands = append(cands, cand{c, info})
	}
	slices.SortFunc(cands, func(a, b cand) int { return int(b.info.Length) - int(a.info.Length) })
	var total int64
	for _, cd := range cands {
		core, n, err := fetchFrom(ctx, cd.c, cd.info, key, dir)
		total += n
		if err == nil {
			return core, total, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", cd.c.Endpoint(), err))
	}
	if len(endpoints) == 0 {
		errs = append(errs, errors.New("no hoster is assigned"))
	}
	return nil, total, errors.Join(errs...)
}

func fetchFrom(ctx context.Context, c *client.Client, info *client.Info, key [32]byte, dir string) (*hypercore.Core, int64, error) {
	if info.Length == 0 {
		return nil, 0, errors.New("the hoster holds no block")
	}
	sp, err := newSpool(filepath.Dir(dir))
	if err != nil {
		return nil, 0, err
	}
	defer sp.close()
	var total int64
	for i := uint64(0); i < info.Length; {
		blocks, err := c.Blocks(ctx, key, i, info.Length)
		if err != nil {
			return nil, total, err
		}
		for _, b := range blocks {
			total += int64(len(b))
			if err := sp.add(b); err != nil {
				return nil, total, err
			}
		}
		i += uint64(len(blocks))
	}
	blocks, err := sp.blocks()
	if err != nil {
		return nil, total, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, total, err
	}
	st, err := hypercore.OpenFileStorage(dir)
	if err != nil {
		return nil, total, err
	}
	core, err := hypercore.CreateReplica(ctx, st, key, info.Manifest)
	if err != nil {
		st.Close()
		return nil, total, err
	}
	if _, err := core.AppendSigned(ctx, info.Fork, info.Signature, blocks...); err != nil {
		core.Close()
		os.RemoveAll(dir)
		return nil, total, fmt.Errorf("blocks do not match the writer's signature: %w", err)
	}
	return core, total, nil
}

// spool keeps fetched blocks in an unlinked temporary file, mapped when
// complete, so that a large core is never held in memory.
type spool struct {
	f     *os.File
	sizes []int
	total int
	mem   []byte
}

func newSpool(dir string) (*spool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, ".fetch-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return &spool{f: f}, nil
}

func (s *spool) add(b []byte) error {
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("metalog: spool: %w", err)
	}
	s.sizes = append(s.sizes, len(b))
	s.total += len(b)
	return nil
}

func (s *spool) blocks() ([][]byte, error) {
	if s.total > 0 {
		m, err := syscall.Mmap(int(s.f.Fd()), 0, s.total, syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("metalog: spool: %w", err)
		}
		s.mem = m
	}
	out := make([][]byte, len(s.sizes))
	off := 0
	for i, n := range s.sizes {
		out[i] = s.mem[off : off+n : off+n]
		off += n
	}
	return out, nil
}

func (s *spool) close() {
	if s.mem != nil {
		syscall.Munmap(s.mem)
	}
	s.f.Close()
}
