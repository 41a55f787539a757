// Package network is the gateway's volume store: blobs are extents of the
// data stream of volumes in the layout of docs/volume-format.md (package
// volume): n = k+m Hypercore cores per volume, 64 KiB blocks, stripe s
// Reed-Solomon coded into block s of every core, each core signed by a key
// derived from the master secret and the volume id.
//
// Small blobs share stripes: a committed blob is appended to the open
// volume's stream and made durable by a group commit (the partial stripe
// is appended to all n cores as a short stripe, format v2: blocks of
// about its bytes/k, not zero padded to 64 KiB; one signature per core per
// flush) that runs when a stripe fills or FlushDelay after the first
// waiting blob; with a CoreShipper, by default, as soon as none of the
// volume's pushes is in flight (or the pushes that were in flight when
// it was wanted end; Config.FlushDelay), unless company is due: then it
// waits for that, Config.FlushWait at most (a lone blob on a quiet
// instance is flushed at once). Reads fetch only the data blocks of the range and decode
// only when a data block is missing or damaged: any k of the n cores give
// the data back.
//
// This store keeps the writer's copy of every core under Dir (it is also
// the read cache). Shipping the cores to hosters (orders on chain, pushes
// with hoster/client) goes through the Shipper; with none configured the
// cores stay local. Use it under crypt.Blobs: it stores what it is given.
package network

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/datdot/datdot/durable"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
)

// Shipper makes appended stripes durable beyond this machine: it is called
// after every flush with the volume and its new length (stripes), and a
// blob is acknowledged only once it returns nil.
type Shipper interface {
	Ship(ctx context.Context, v *Volume, length uint64) error
}

// CoreShipper is a Shipper that ships each core on its own. With one, a
// volume pushes every core to its hosters as soon as stripes are appended
// (one push per core in flight, each carrying all that is new), keeps its
// local cores without fsync (their durability is the hosters'), and
// acknowledges a blob once Config.AckCores cores hold it on their hosters.
type CoreShipper interface {
	Shipper
	// Prepare readies v for pushes up to length: on the volume's first
	// call it places the volume's order and waits for every core to have
	// a hoster. Calls for one volume do not overlap.
	Prepare(ctx context.Context, v *Volume, length uint64) error
	// PushCore makes blocks [0, length) of core j durable on the core's
	// hosters. Calls for one core do not overlap; calls for different
	// cores do.
	PushCore(ctx context.Context, v *Volume, j int, length uint64) error
	// Shipped reports that stripes [0, length) are acknowledged (held by
	// AckCores cores): the order may be extended to it.
	Shipped(v *Volume, length uint64)
}

// Settler is a Shipper that can settle a volume that takes no more
// blobs: Settle returns once blocks [0, length) of every core are on the
// core's hosters and the volume's order on the chain covers that length
// (not later, in a batch). Without it a settling volume is shipped again
// (Ship).
type Settler interface {
	Settle(ctx context.Context, v *Volume, length uint64) error
}

// Config configures a Blobs.
type Config struct {
	Dir    string
	Master []byte
	Layout volume.Layout
	// FlushDelay is how long a committed blob may wait for others to
	// share its stripe. 0 (the default) with a CoreShipper flushes
	// adaptively: a blob that finds none of the volume's pushes in
	// flight is flushed at once, and the blobs that come while pushes
	// run share the next flush, which starts as soon as enough cores
	// are idle again (the push in flight is the batching window).
	// Without a CoreShipper 0 means 5 ms.
	FlushDelay time.Duration
	// FlushWait bounds how long an adaptive flush (FlushDelay 0 with a
	// CoreShipper) that is ready to start waits for company, blobs
	// expected soon, so that they share its stripe and its pushes: the
	// blobs still being written (writers open, created and neither
	// committed nor aborted, that have written less than a stripe so
	// far), and, when the last acknowledgement (less than FlushWait ago)
	// released more blobs than the flush has, as many new blobs (those
	// PUTs' clients sending their next ones). The flush starts as soon as
	// that company is in, or FlushWait after it was ready; a flush of
	// four stripes of blobs or more does not wait. A blob that
	// comes while no other is written, long enough after the last
	// acknowledgement, as on a quiet instance, is flushed at once.
	// 0 means DefaultFlushWait; negative, no wait.
	FlushWait time.Duration
	// MaxStripes per volume before a new one is started (default 16384).
	MaxStripes uint64
	Shipper    Shipper
	// AckCores is, with a CoreShipper, how many of the n cores must hold
	// a blob on their hosters before it is acknowledged: k+L survives the
	// loss of any L hosters. 0 means n (the default: an acknowledged blob
	// survives the loss of any m hosters); at least k.
	AckCores int
	// Journal records committed blobs as pending until metadata
	// references them (store.MetaStore.AddPending); required.
	Journal Journal
	// Remote, when set, is where reads come from: the volumes' hosters
	// (the local cores are then only the writer's working copy and are
	// never read). Without it reads use the local cores.
	Remote *Remote
	// CacheBytes bounds the in-memory cache of data blocks that serves
	// hot objects (recently written or read); 0 turns it off.
	CacheBytes int64
	// UsagePath, when set, turns on the records of each volume's stream
	// length and live bytes (Blobs.Usage; what compaction needs). With a
	// Journal that is a UsageJournal (local.Meta) they are kept in its
	// database and blobs are committed fresh (store.BlobRef.Fresh): no
	// pending record, the metadata commit that references a blob records
	// its usage, one commit per PUT instead of three; a file left at
	// UsagePath by an earlier version is migrated into it at Open and
	// renamed to UsagePath+".migrated" (there is no downgrade past this
	// version). With another Journal UsagePath is a bbolt file of their
	// own. Keep it beside the metadata, not under Dir.
	UsagePath string
	// ReadWindow is how many stream bytes one read fetches from the
	// hosters at once (rounded to whole stripes; default 4 MiB; a window
	// that takes a range to its end may be up to a quarter longer).
	ReadWindow int64
	// FirstWindow is the size of a reader's first window, the one Open
	// waits for before a GET sends its status line (default 1 MiB): it
	// comes in sooner than a whole ReadWindow, and the windows after it
	// are asked for at once.
	FirstWindow int64
	// ReadAhead is how many windows past the one being consumed a reader
	// of a long range keeps in flight (default 2). Memory: a reader holds
	// its current window and at most ReadAhead windows ahead, at most
	// (1+ReadAhead) × 5/4 × ReadWindow bytes (15 MiB by default) plus the
	// answers of an extra core; all readers together hold at most
	// ReadAheadBytes in windows ahead, plus their current windows.
	ReadAhead int
	// ReadAheadBytes bounds the bytes of the windows all readers have
	// asked ahead together (default 256 MiB): a window that does not fit
	// is read when its reader gets to it.
	ReadAheadBytes int64
	// Compact configures compaction (compact.go).
	Compact CompactConfig
	// BlobMemBytes bounds how much of one blob a writer keeps in memory
	// until Commit (default DefaultBlobMemBytes, 32 MiB); a larger blob
	// goes to an unlinked temporary file under Dir. MemBudgetBytes bounds
	// the memory of all writers together (default DefaultMemBudgetBytes,
	// 256 MiB): a writer that finds it used up spools too. Negative
	// values keep no blob in memory.
	BlobMemBytes   int64
	MemBudgetBytes int64
	// PushMemBytes bounds, per volume, the blocks kept in memory from
	// their append until every core's hosters hold them (with a
	// CoreShipper): pushes send them from there instead of reading the
	// local cores. Past the bound the oldest are dropped and their pushes
	// read the local cores. Default DefaultPushMemBytes; negative keeps
	// none.
	PushMemBytes int64
	Log          *slog.Logger
}

// DefaultFlushWait is the default Config.FlushWait: about one push round
// on a loaded machine (bench/s3, six hosters and the gateway on two
// cores).
const DefaultFlushWait = 20 * time.Millisecond

// DefaultPushMemBytes is the default Config.PushMemBytes: about 1.5 s of
// pushes at 100 MB/s.
const DefaultPushMemBytes = 128 << 20

// Journal is the part of store.MetaStore a BlobWriter uses.
type Journal interface {
	AddPending(ctx context.Context, refs []store.BlobRef, due time.Time) error
}

// PendingWindow is how long a committed blob may wait for the metadata
// commit that references it.
const PendingWindow = time.Hour

// DefaultLayout is k = 4 data and m = 2 parity cores: any 2 of 6 hosters
// may be lost, for 1.5x the stored bytes.
var DefaultLayout = volume.Layout{K: 4, M: 2}

// Blobs is a store.BlobStore over volumes.
type Blobs struct {
	cfg   Config
	coder *volume.Coder // of cfg.Layout
	// coders holds the coders of the other layouts volumes were written
	// with (coderFor).
	cmu    sync.Mutex
	coders map[volume.Layout]*volume.Coder
	// adoptMu serialises adoptLayout; adoptTried holds the volumes it
	// looked at.
	adoptMu    sync.Mutex
	adoptTried map[string]bool
	// shapeTimeout bounds each hoster request of shapeFromHosters and
	// shapeMax the volumes one pass asks about (defaultShapeTimeout,
	// defaultShapeMax; tests change them).
	shapeTimeout time.Duration
	shapeMax     int

	cache *blockCache
	usage *usageDB
	// fresh: the usage records live in the metadata database and blobs
	// are committed fresh (store.BlobRef.Fresh), without a pending record:
	// the metadata commit that first references a blob records its usage
	// (recordFresh), and each volume's stream and holes are recorded from
	// its cores (recordShape).
	fresh bool
	mem   memBudget // blob bytes writers hold in memory
	// freeBlocks recycles the blocks of stripes appended to the cores
	// (volume.StreamEncoder.SetAlloc).
	freeBlocks chan []byte
	cs         CoreShipper  // cfg.Shipper when it ships core by core
	st         *stages      // stage timings (nil unless logging debug)
	gst        *stages      // read stage timings (nil unless logging debug)
	ahead      atomic.Int64 // bytes of windows read ahead (Config.ReadAheadBytes)
	// afterFunc schedules flushes (time.AfterFunc; tests record it).
	afterFunc func(time.Duration, func()) *time.Timer
	// openWriters counts the open writers that have written less than a
	// stripe: blobs whose Commit will want a flush soon (FlushWait);
	// created counts the writers ever created.
	openWriters atomic.Int64
	created     atomic.Uint64

	mu   sync.Mutex
	vols map[string]*Volume
	refs map[string]VolumeRef
	open *Volume // the volume new blobs go to
	// reloc resolves relocated blobs (compact.go); states holds the
	// compaction state of volumes compaction worked on.
	reloc  Relocator
	states map[string]string
	// shipWait holds, per volume emptied by compaction, the metadata
	// mark (ShipWatcher.CommitMark) that must be shipped before its order
	// is given up.
	shipWait map[string]uint64
	// orphans holds the orders of no known volume a sweep is waiting to
	// give up (orphans.go).
	orphans map[uint64]orphanWait
	// readers counts, per volume, the reads in flight that may still
	// fetch from it (hold): compaction does not give such a volume up.
	readers map[string]int
	// shapeAfter is the last volume a compaction pass asked the hosters
	// the shape of: the next pass starts after it (shapeFromHosters).
	shapeAfter string

	// stopBg stops the background work Open starts (settle); bg waits
	// for it.
	stopBg context.CancelFunc
	bg     sync.WaitGroup
	closed bool // Close ran: no new blobs
	// padFlush (tests) makes flushes pad the partial stripe to full size,
	// as format v1 writers did, instead of appending it short.
	padFlush bool
	// closeHook, when set (tests), is called by Close for each volume it
	// stops, once the volume is marked closing and before Close waits for
	// the appends and flushes in flight.
	closeHook func(*Volume)
}

// errClosed fails the blobs that wait for a group commit when the store
// is closed, and the blobs committed after it.
var errClosed = errors.New("network: store closed")

// Volume is one volume: its n cores (nil where a core is lost) and, for
// the open volume, the stream encoder and group-commit state.
type Volume struct {
	ID    []byte
	Hex   string
	Cores []*hypercore.Core
	// Keys are the cores' writer keys (set for volumes this process
	// writes; nil for volumes opened to read).
	Keys []ed25519.PrivateKey
	// Dir is the volume's directory (its cores are core-000, ...).
	Dir    string
	Layout volume.Layout

	b *Blobs

	wmu sync.Mutex // held while a blob is appended to the stream
	enc *volume.StreamEncoder
	// lastAppend is when the last blob was appended (guarded by wmu).
	lastAppend time.Time
	// shaped is the length (stripes) recordShape last recorded.
	shaped atomic.Uint64
	// ends counts, per stripe, the blobs that end in it and whose Commit
	// has not yet learnt its block size (set when the stripe is emitted:
	// B, or b when a flush appended it short), guarded by smu.
	smu  sync.Mutex
	ends map[uint64]*stripeEnd
	// holes is the stream bytes in the holes of short stripes emitted and
	// not yet recorded in the usage db (guarded by smu).
	holes    int64
	pending  [][][]byte // coded stripes not yet appended to the cores
	stream   int64      // stream offset of the encoder (incl. the holes of short stripes)
	fmu      sync.Mutex // guards the fields below
	durable  int64      // stream bytes durable on all cores (and shipped)
	failed   error
	waiting  []waiter
	flushing bool
	timer    *time.Timer
	// closing: Close is stopping the volume; no flush or blob touches its
	// cores any more (see shutdown). flushes counts the flushes running.
	closing bool
	flushes sync.WaitGroup

	// Core by core shipping (with a CoreShipper), guarded by fmu: local
	// is the stripes appended to the local cores, pushed[j] the stripes
	// core j's hosters hold.
	stores      []*hypercore.FileStorage
	local       uint64
	pushed      []uint64
	pushing     []bool
	coreErr     []error
	kick        []chan struct{}
	flushWanted bool // a flush waits for the pushes in flight (wantFlushLocked)
	// rounds counts core j's finished pushes; wantRounds is the count at
	// which the pushes that were in flight (or due) when the flush was
	// wanted are over.
	rounds     []uint64
	wantRounds []uint64
	flushGo    bool // a worker found the flush ready and started it
	// holding: the flush is ready and waits, until holdUntil at most,
	// for company (Config.FlushWait; holdLocked).
	holding   bool
	holdUntil time.Time
	// ackN is how many waiting blobs the last acknowledgement released,
	// at ackAt, when Blobs.created was ackCreated (companyDueLocked).
	ackN       int
	ackAt      time.Time
	ackCreated uint64
	shipped    uint64 // stripes reported to Shipped
	noWrites   bool   // a core failed: new blobs go to another volume
	// firstWait is when the first blob waiting for the next flush came;
	// appended the local lengths and times of appends not yet
	// acknowledged (stage timings only).
	firstWait time.Time
	appended  []lenAt
	wctx      context.Context
	stop      context.CancelFunc
	workers   sync.WaitGroup
	pmu       sync.Mutex // serialises Prepare
	prepared  bool
	// mem[j] holds blocks memBase[j]... of core j, appended to the local
	// core and not yet held by its hosters (pushMem); memBytes is their
	// total. Only core j's worker reads mem[j] outside fmu, and only while
	// pushing[j]: a block is recycled only when its core is not pushing.
	mem      [][][]byte
	memBase  []uint64
	memBytes int64
}

// stripeEnd is the block size of a stripe in which blobs end, for their
// extents (store.Extent.Block), until each of them has read it.
type stripeEnd struct {
	blobs int // blobs ending in the stripe that have not read it
	block int // block size once emitted (0 before)
}

type lenAt struct {
	length uint64
	at     time.Time
}

type waiter struct {
	end  int64
	done chan error
}

// Open opens the volume store in cfg.Dir. Volumes found there are opened
// for reading; new blobs go to a new volume.
func Open(cfg Config) (*Blobs, error) {
	if cfg.Layout == (volume.Layout{}) {
		cfg.Layout = DefaultLayout
	}
	if _, cores := cfg.Shipper.(CoreShipper); cfg.FlushDelay <= 0 && !cores {
		cfg.FlushDelay = 5 * time.Millisecond
	}
	cfg.FlushDelay = max(cfg.FlushDelay, 0)
	if cfg.FlushWait == 0 {
		cfg.FlushWait = DefaultFlushWait
	}
	if cfg.MaxStripes == 0 {
		cfg.MaxStripes = 16384
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	coder, err := volume.NewCoder(cfg.Layout)
	if err != nil {
		return nil, err
	}
	if cfg.Journal == nil {
		return nil, errors.New("network: no journal")
	}
	if len(cfg.Master) < volume.MinSecretSize {
		return nil, fmt.Errorf("network: master secret of %d bytes, want at least %d", len(cfg.Master), volume.MinSecretSize)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "volumes"), 0o755); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if cfg.ReadWindow <= 0 {
		cfg.ReadWindow = 4 << 20
	}
	if cfg.FirstWindow <= 0 {
		cfg.FirstWindow = min(1<<20, cfg.ReadWindow)
	}
	if cfg.ReadAhead <= 0 {
		cfg.ReadAhead = 2
	}
	if cfg.ReadAheadBytes <= 0 {
		cfg.ReadAheadBytes = 256 << 20
	}
	if cfg.AckCores == 0 {
		cfg.AckCores = cfg.Layout.N()
	}
	if cfg.AckCores < cfg.Layout.K || cfg.AckCores > cfg.Layout.N() {
		return nil, fmt.Errorf("network: a blob acknowledged on %d cores, want %d (k) to %d (n)", cfg.AckCores, cfg.Layout.K, cfg.Layout.N())
	}
	if cfg.Compact.Threshold <= 0 {
		cfg.Compact.Threshold = 0.5
	}
	if cfg.Compact.MaxBytes <= 0 {
		cfg.Compact.MaxBytes = 256 << 20
	}
	if cfg.Compact.MinAge <= 0 {
		cfg.Compact.MinAge = PendingWindow
	}
	if cfg.BlobMemBytes == 0 {
		cfg.BlobMemBytes = DefaultBlobMemBytes
	}
	if cfg.MemBudgetBytes == 0 {
		cfg.MemBudgetBytes = DefaultMemBudgetBytes
	}
	if cfg.PushMemBytes == 0 {
		cfg.PushMemBytes = DefaultPushMemBytes
	}
	b := &Blobs{cfg: cfg, coder: coder, coders: map[volume.Layout]*volume.Coder{}, adoptTried: map[string]bool{}, vols: map[string]*Volume{}, refs: map[string]VolumeRef{},
		cache: newBlockCache(cfg.CacheBytes), states: map[string]string{}}
	b.mem.max = cfg.MemBudgetBytes
	b.shapeTimeout, b.shapeMax = defaultShapeTimeout, defaultShapeMax
	b.freeBlocks = make(chan []byte, freeBlocks)
	b.cs, _ = cfg.Shipper.(CoreShipper)
	b.st = newStages(cfg.Log)
	b.gst = newGetStages(cfg.Log)
	b.afterFunc = time.AfterFunc
	if cfg.UsagePath != "" {
		if b.usage, err = openUsage(cfg.UsagePath, cfg.Journal); err != nil {
			return nil, err
		}
		if err := b.loadStates(); err != nil {
			b.usage.close()
			return nil, err
		}
		if b.usage.meta != nil {
			b.fresh = true
			b.usage.meta.SetFreshBlobs(b.recordFresh)
		}
		if len(b.usage.rebuilt) > 0 {
			b.shapeRebuilt(b.usage.rebuilt)
		}
	}
	if err := b.reopen(context.Background()); err != nil {
		cfg.Log.Warn("the last volume does not reopen for writing; new blobs go to a new volume", "err", err)
	}
	var bgCtx context.Context
	bgCtx, b.stopBg = context.WithCancel(context.Background())
	if cfg.Shipper != nil {
		ids, err := b.pendingSettle()
		if err != nil {
			cfg.Log.Warn("list volumes to settle", "err", err)
		}
		b.bg.Add(1)
		go func() {
			defer b.bg.Done()
			b.settleAll(bgCtx, ids)
		}()
	}
	return b, nil
}

// currentFile names the volume new blobs were last written to.
func (b *Blobs) currentFile() string { return filepath.Join(b.cfg.Dir, "current") }

// sealedFile marks a volume that takes no more blobs.
func sealedFile(v *Volume) string { return filepath.Join(v.Dir, "sealed") }

// syncedFile marks a volume whose local cores were synced at a clean
// shutdown (with a CoreShipper they are written without fsync).
func syncedFile(v *Volume) string { return filepath.Join(v.Dir, "synced") }

// reopen makes the volume named by the current file the open volume
// again, if it is not sealed, has no compaction state (one that has is
// sealed), has room, and its n cores open with the
// same length (a crash between the cores' appends leaves them uneven:
// that volume is sealed instead). Stripes appended locally but never
// shipped hold only blobs that were never acknowledged; the next flush
// ships them with the new ones.
func (b *Blobs) reopen(ctx context.Context) error {
	raw, err := os.ReadFile(b.currentFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	hexID := strings.TrimSpace(string(raw))
	id, err := hex.DecodeString(hexID)
	if err != nil || len(id) == 0 || len(id) > volume.MaxVolumeIDSize {
		return fmt.Errorf("network: current volume %q is not a volume id", hexID)
	}
	v := &Volume{ID: id, Hex: hexID, b: b, Cores: make([]*hypercore.Core, b.cfg.Layout.N()), Layout: b.cfg.Layout}
	v.Dir = filepath.Dir(b.coreDir(hexID, 0))
	if _, err := os.Stat(sealedFile(v)); err == nil {
		return nil
	}
	if l, ok, err := b.adoptLayout(ctx, hexID); err != nil || !ok || l != b.cfg.Layout {
		// Written with another layout (the flags changed), or by an
		// older version with cores that do not show the current one
		// (adoptLayout): new blobs go to a new volume of the current
		// layout; this one is settled as it is.
		b.seal(v)
		return fmt.Errorf("network: volume %s was written with layout %+v (recorded: %v, %v), new volumes are %+v: sealed", hexID, l, ok, err, b.cfg.Layout)
	}
	if st := b.volState(hexID); st != "" {
		// Compaction worked on it (a crash, or a reopen of a volume it
		// marked): its blobs are being moved out, none go in.
		b.seal(v)
		return fmt.Errorf("network: volume %s is %s: sealed", hexID, st)
	}
	if v.Keys, err = volume.CoreKeys(b.cfg.Master, id, b.cfg.Layout); err != nil {
		return err
	}
	if b.cs != nil {
		// Local cores are written without fsync: only a volume whose
		// cores were synced at a clean shutdown is continued.
		if _, err := os.Stat(syncedFile(v)); err != nil {
			b.seal(v)
			return fmt.Errorf("network: volume %s was not closed cleanly (its local cores are not synced): sealed", hexID)
		}
	}
	length := uint64(0)
	v.stores = make([]*hypercore.FileStorage, len(v.Cores))
	for j := range v.Cores {
		dir := b.coreDir(hexID, j)
		if _, err := os.Stat(filepath.Join(dir, "header")); err != nil {
			v.close()
			return fmt.Errorf("network: volume %s core %d: %w", hexID, j, err)
		}
		st, err := hypercore.OpenFileStorage(dir)
		if err != nil {
			v.close()
			return fmt.Errorf("network: volume %s core %d: %w", hexID, j, err)
		}
		v.stores[j] = st
		c, err := hypercore.Open(ctx, st, v.Keys[j])
		if err != nil {
			st.Close()
			v.close()
			return fmt.Errorf("network: volume %s core %d: %w", hexID, j, err)
		}
		v.Cores[j] = c
		if j == 0 {
			length = c.Length()
		} else if c.Length() != length {
			v.close()
			b.seal(v)
			return fmt.Errorf("network: volume %s: core %d has %d blocks, core 0 %d (sealed)", hexID, j, c.Length(), length)
		}
	}
	// Stripes a crash left after the last committed blob are dead space
	// the usage counters must see (compaction reclaims them).
	if err := b.recordGrown(v, length); err != nil {
		v.close()
		return err
	}
	if length >= b.cfg.MaxStripes {
		v.close()
		return nil
	}
	if b.cs != nil {
		// From here on the cores change without fsync: the marker goes
		// first, durably.
		if err := durable.Remove(syncedFile(v)); err != nil {
			v.close()
			return fmt.Errorf("network: %w", err)
		}
	}
	coder, err := b.coderFor(v.Layout)
	if err != nil {
		v.close()
		return err
	}
	v.enc = coder.NewStreamEncoder(length, v.emit)
	v.enc.SetAlloc(b.getBlock)
	v.enc.SetFree(b.putBlock)
	v.stream = int64(length) * v.Layout.StripeSize()
	v.local = length
	b.startShipping(v)
	b.vols[hexID] = v
	b.open = v
	b.cfg.Log.Info("reopened the last volume for writing", "volume", hexID, "stripes", length)
	return nil
}

// seal marks v as taking no more blobs, durably (best effort: a volume
// that fails to reopen is not written either).
func (b *Blobs) seal(v *Volume) {
	if err := durable.WriteFile(sealedFile(v), []byte("sealed\n")); err != nil {
		b.cfg.Log.Warn("mark volume sealed", "volume", v.Hex, "err", err)
	}
}

// setCurrent records v as the volume new blobs go to.
func (b *Blobs) setCurrent(v *Volume) error {
	return durable.WriteFile(b.currentFile(), []byte(v.Hex+"\n"))
}

// Close closes every core.
func (b *Blobs) Close() error {
	if b.fresh {
		// From here a commit that references a fresh blob fails
		// (store.ErrNoSuchBlob) instead of recording it.
		b.usage.meta.SetFreshBlobs(nil)
	}
	if b.stopBg != nil {
		b.stopBg()
		b.bg.Wait()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	var errs []error
	for _, v := range b.vols {
		errs = append(errs, v.shutdown())
		for _, c := range v.Cores {
			if c != nil {
				errs = append(errs, c.Close())
			}
		}
	}
	b.vols = map[string]*Volume{}
	b.open = nil
	// The db stays referenced (a Commit still running gets bbolt's
	// "database not open", not a nil store).
	errs = append(errs, b.usage.close())
	return errors.Join(errs...)
}

// shutdown stops a volume this store writes before its cores are closed:
// no flush or blob append may touch the cores from here on (one that did
// would fail and seal the volume, or change cores already synced), the
// blobs still waiting for a group commit fail with errClosed, and with
// core by core shipping the local cores are synced and marked so that the
// next start continues the volume.
func (v *Volume) shutdown() error {
	if v.enc == nil {
		return nil // opened for reading
	}
	v.fmu.Lock()
	v.closing = true
	if v.timer != nil {
		v.timer.Stop()
		v.timer = nil
	}
	v.fmu.Unlock()
	if v.b.closeHook != nil {
		v.b.closeHook(v)
	}
	// A blob being appended (or a flush appending) holds wmu: wait for
	// it; later ones see closing and leave the cores alone.
	v.wmu.Lock()
	v.wmu.Unlock()
	v.flushes.Wait()
	// The holes of the last short stripes (no later blob records them).
	var herr error
	if v.b.fresh {
		herr = v.b.recordShape(v)
	} else {
		herr = v.b.usage.addHoles(v.Hex, v.takeHoles())
	}
	if v.stop != nil {
		return errors.Join(herr, v.stopShipping())
	}
	v.fmu.Lock()
	for _, w := range v.waiting {
		w.done <- errClosed
	}
	v.waiting = nil
	v.fmu.Unlock()
	return herr
}

// isClosing reports whether Close is stopping v.
func (v *Volume) isClosing() bool {
	v.fmu.Lock()
	defer v.fmu.Unlock()
	return v.closing
}

func (b *Blobs) coreDir(hexID string, j int) string {
	return filepath.Join(b.cfg.Dir, "volumes", hexID, fmt.Sprintf("core-%03d", j))
}

// newVolume creates the n cores of a fresh volume.
func (b *Blobs) newVolume(ctx context.Context) (*Volume, error) {
	id := make([]byte, 16)
	rand.Read(id)
	v := &Volume{ID: id, Hex: hex.EncodeToString(id), b: b, Cores: make([]*hypercore.Core, b.cfg.Layout.N()), Layout: b.cfg.Layout}
	v.Dir = filepath.Dir(b.coreDir(v.Hex, 0))
	keys, err := volume.CoreKeys(b.cfg.Master, id, b.cfg.Layout)
	if err != nil {
		return nil, err
	}
	v.Keys = keys
	v.stores = make([]*hypercore.FileStorage, len(v.Cores))
	for j := range v.Cores {
		st, err := hypercore.OpenFileStorage(b.coreDir(v.Hex, j))
		if err != nil {
			v.close()
			return nil, fmt.Errorf("network: volume %s core %d: %w", v.Hex, j, err)
		}
		if v.Cores[j], err = hypercore.Create(ctx, st, keys[j], false); err != nil {
			st.Close()
			v.close()
			return nil, fmt.Errorf("network: volume %s core %d: %w", v.Hex, j, err)
		}
		v.stores[j] = st
	}
	// Before any block can reach a hoster: readers and a later start with
	// other flags take the volume's layout from here.
	if err := WriteLayout(v.Dir, v.Layout); err != nil {
		v.close()
		return nil, err
	}
	coder, err := b.coderFor(v.Layout)
	if err != nil {
		v.close()
		return nil, err
	}
	v.enc = coder.NewStreamEncoder(0, v.emit)
	v.enc.SetAlloc(b.getBlock)
	v.enc.SetFree(b.putBlock)
	b.startShipping(v)
	return v, nil
}

func (v *Volume) close() {
	if v.stop != nil {
		v.stop()
		v.workers.Wait()
	}
	for _, c := range v.Cores {
		if c != nil {
			c.Close()
		}
	}
}

// volumeFor returns an opened volume for reading; cores that are missing
// or do not open are nil.
func (b *Blobs) volumeFor(ctx context.Context, hexID string) (*Volume, error) {
	l, err := b.volumeLayout(ctx, hexID)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if v := b.vols[hexID]; v != nil {
		return v, nil
	}
	id, err := hex.DecodeString(hexID)
	if err != nil || len(id) == 0 || len(id) > volume.MaxVolumeIDSize {
		return nil, fmt.Errorf("network: bad volume id %q", hexID)
	}
	v := &Volume{ID: id, Hex: hexID, b: b, Cores: make([]*hypercore.Core, l.N()), Layout: l}
	v.Dir = filepath.Dir(b.coreDir(hexID, 0))
	opened := 0
	for j := range v.Cores {
		dir := b.coreDir(hexID, j)
		if _, err := os.Stat(filepath.Join(dir, "header")); err != nil {
			continue
		}
		st, err := hypercore.OpenFileStorage(dir)
		if err != nil {
			b.cfg.Log.Warn("volume core does not open", "volume", hexID, "core", j, "err", err)
			continue
		}
		c, err := hypercore.Open(ctx, st, nil)
		if err != nil {
			st.Close()
			b.cfg.Log.Warn("volume core does not open", "volume", hexID, "core", j, "err", err)
			continue
		}
		v.Cores[j] = c
		opened++
	}
	if opened == 0 {
		return nil, fmt.Errorf("network: volume %s: no core found", hexID)
	}
	b.vols[hexID] = v
	return v, nil
}

// Create implements store.BlobStore. The writer keeps the blob in memory
// (pooled chunks) up to Config.BlobMemBytes while the store's memory
// budget (Config.MemBudgetBytes) has room, and in an unlinked temp file
// beyond, so that each blob is one contiguous extent of a volume however
// many writers run at once.
func (b *Blobs) Create(ctx context.Context) (store.BlobWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.created.Add(1)
	b.openWriters.Add(1)
	return &writer{buf: blobBuf{b: b}, small: true}, nil
}

type writer struct {
	buf  blobBuf
	done bool
	// small: the writer is counted in Blobs.openWriters (it has written less
	// than a stripe and is not finished).
	small bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errFinished
	}
	n, err := w.buf.Write(p)
	w.grown()
	return n, err
}

// Reserve returns the next n bytes of the blob, counted as written, for
// the caller to fill in place (crypt.Blobs seals segments into it): one
// copy less than Write. It returns nil when the blob cannot take them in
// memory; the caller then writes them with Write.
func (w *writer) Reserve(n int) []byte {
	if w.done {
		return nil
	}
	p := w.buf.reserve(n)
	w.grown()
	return p
}

// grown stops counting the writer among the blobs a ready flush waits for
// once it has written a stripe: a blob that big fills stripes of its own,
// and its Commit may be far off.
func (w *writer) grown() {
	if w.small && w.buf.n >= w.buf.b.cfg.Layout.StripeSize() {
		w.uncount()
	}
}

// uncount takes the writer out of Blobs.openWriters.
func (w *writer) uncount() {
	if w.small {
		w.small = false
		w.buf.b.writerDone()
	}
}

// Abort discards the blob (Commit calls it once the blob is in the
// stream).
func (w *writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.buf.release()
	w.uncount()
}

// writerDone counts a writer out of openWriters; when none is left, a
// flush of the open volume that waits for company may start.
func (b *Blobs) writerDone() {
	if b.openWriters.Add(-1) > 0 {
		return
	}
	b.mu.Lock()
	v := b.open
	b.mu.Unlock()
	if v != nil {
		v.writersDone()
	}
}

// Commit appends the blob to the open volume's stream and waits for the
// group commit that makes it durable.
func (w *writer) Commit(ctx context.Context) (store.BlobRef, error) {
	if w.done {
		return store.BlobRef{}, errors.New("network: commit of a finished blob")
	}
	// The blob's memory goes back once it is in the stream, before the
	// (longer) wait for its durability.
	n, b := w.buf.n, w.buf.b
	t0 := time.Now()
	v, off, err := b.appendBlob(ctx, &w.buf, n)
	w.Abort()
	b.st.add(stAppend, time.Since(t0))
	if err != nil {
		return store.BlobRef{}, err
	}
	id := make([]byte, 16)
	rand.Read(id)
	ref := store.BlobRef{ID: hex.EncodeToString(id), Size: n}
	if n > 0 {
		ref.Extents = []store.Extent{{Volume: v.Hex, Offset: off, Length: n}}
	}
	// The blob's accounting and its pending record are written while its
	// stripes are pushed, not after: if the push fails, the pending record
	// expires and the blob is deleted (counted dead) like any blob that
	// metadata never referenced. A fresh blob has neither: the metadata
	// commit that references it records it (recordFresh).
	var wg sync.WaitGroup
	var usageErr, pendingErr error
	t1 := time.Now()
	if b.fresh {
		ref.Fresh = true
	} else {
		wg.Go(func() {
			// The holes of the short stripes flushed since the last
			// blob's record (this blob's own is recorded by the next one,
			// at Close, or by compaction).
			holes := v.takeHoles()
			usageErr, pendingErr = b.usage.committedPending(ctx, b.cfg.Journal, ref, time.Now().Add(PendingWindow),
				v.Hex, off, n, max(off+n, v.durableLen()), holes)
			if usageErr != nil {
				v.smu.Lock()
				v.holes += holes
				v.smu.Unlock()
			}
			if pendingErr != nil {
				pendingErr = fmt.Errorf("network: record pending blob: %w", pendingErr)
			}
			b.st.add(stRecords, time.Since(t1))
		})
	}
	err = v.waitDurable(ctx, off+n)
	b.st.add(stDurable, time.Since(t1))
	wg.Wait()
	if n > 0 {
		// The block size of the blob's last stripe is known once the
		// blob is durable (a flush may have appended that stripe short).
		// The pending record does without it (it is only ever deleted);
		// a new slice, as the journal may keep the one it was given.
		e := ref.Extents[0]
		e.Block = v.endBlock(off + n)
		ref.Extents = []store.Extent{e}
	}
	b.st.add(stCommit, time.Since(t0))
	b.st.committed(n)
	if err := errors.Join(err, usageErr, pendingErr); err != nil {
		return store.BlobRef{}, err
	}
	return ref, nil
}

// recordFresh records a fresh blob (store.BlobRef.Fresh) in the
// transaction of the metadata commit that first references it
// (local.Meta.SetFreshBlobs): its bytes are live from that commit on.
// A blob of a volume that compaction works on (or gave up) is refused
// with store.ErrNoSuchBlob: compaction marks a volume compacting durably
// before it lists the volume's blobs, so every blob of it that a commit
// references is either in that list or refused. A blob already indexed
// or deleted once (a key in the deleted bucket) is refused too: it is
// not fresh.
func (b *Blobs) recordFresh(tx *bolt.Tx, ref store.BlobRef) error {
	for _, e := range ref.Extents {
		if st := b.usage.bucket(tx, bucketState).Get([]byte(e.Volume)); st != nil {
			return fmt.Errorf("network: blob %s: its volume %s is %s: %w", ref.ID, e.Volume, st, store.ErrNoSuchBlob)
		}
		if b.usage.bucket(tx, bucketBlobs).Get(blobKey(e.Volume, ref.ID)) != nil {
			return fmt.Errorf("network: blob %s: already recorded in volume %s: %w", ref.ID, e.Volume, store.ErrNoSuchBlob)
		}
		if b.usage.wasDeletedTx(tx, e.Volume, ref.ID) {
			return fmt.Errorf("network: blob %s: deleted from volume %s: %w", ref.ID, e.Volume, store.ErrNoSuchBlob)
		}
		if err := b.usage.committedTx(tx, e.Volume, ref.ID, e.Offset, e.Length, e.Offset+e.Length, 0); err != nil {
			return err
		}
	}
	return nil
}

// recordShape records v's stream and holes as its cores show them: in
// every stripe all n blocks have one size, so the stripes of the
// shortest core that is there (every core holds the stripes below its
// length; a crash between the cores' appends leaves the others longer)
// give the stream and its bytes give the data the stripes hold (k times
// them); the rest of the stream is holes.
func (b *Blobs) recordShape(v *Volume) error {
	var short *hypercore.Core
	for _, c := range v.Cores {
		if c != nil && (short == nil || c.Length() < short.Length()) {
			short = c
		}
	}
	if short == nil {
		return nil
	}
	info := short.Info() // its length and bytes together
	if info.Length == v.shaped.Load() {
		return nil // recorded already
	}
	stream, holes := shapeOf(v.Layout, info.Length, info.ByteLength)
	if err := b.usage.shape(v.Hex, stream, holes); err != nil {
		return err
	}
	v.shaped.Store(info.Length)
	return nil
}

// shapeOf is the stream and the holes of a volume whose shortest core
// holds length blocks of byteLength bytes: every stripe has n blocks of
// one size, so its k data blocks hold k times what a core holds of it.
func shapeOf(l volume.Layout, length, byteLength uint64) (stream, holes int64) {
	stream = int64(length) * l.StripeSize()
	return stream, stream - int64(l.K)*int64(byteLength)
}

// shapeRebuilt records the stream and holes of volumes whose usage
// records were rebuilt from the metadata (usageDB.rebuildChunks), from their
// local cores as recordShape does (each core is opened for its head and
// closed again), each in the commit that drops it from the volumes to
// reshape (those left by a crash are reshaped at the next open). A
// volume without local cores (recovered without its data) keeps the
// stream its blobs cover, and the holes of its short stripes count as
// dead (compaction may then move its blobs early, never lose them),
// until its hosters give its shape: with a Remote it stays listed for
// the compaction passes to ask them (shapeFromHosters).
func (b *Blobs) shapeRebuilt(vols []string) {
	for _, hexID := range vols {
		var short *hypercore.Head
		l := b.localLayout(hexID)
		for j := range l.N() {
			dir := b.coreDir(hexID, j)
			if _, err := os.Stat(filepath.Join(dir, "header")); err != nil {
				continue
			}
			st, err := hypercore.OpenFileStorage(dir)
			if err != nil {
				b.cfg.Log.Warn("usage rebuild: volume core does not open", "volume", hexID, "core", j, "err", err)
				continue
			}
			_, h, err := st.Load(context.Background())
			st.Close()
			if err != nil {
				b.cfg.Log.Warn("usage rebuild: volume core does not load", "volume", hexID, "core", j, "err", err)
				continue
			}
			if short == nil || h.Length < short.Length {
				short = &h
			}
		}
		var stream, holes int64
		if short != nil {
			stream, holes = shapeOf(l, short.Length, short.ByteLength)
		} else if b.cfg.Remote != nil {
			// No local cores (recovered without its data): left listed,
			// the compaction passes ask its hosters (shapeFromHosters).
			continue
		}
		// A failure leaves the volume listed: the next open tries again.
		if err := b.usage.reshaped(hexID, short != nil, stream, holes); err != nil {
			b.cfg.Log.Warn("usage rebuild: record a volume's shape", "volume", hexID, "err", err)
		}
	}
	b.cfg.Log.Info("usage records rebuilt from the metadata", "volumes", len(vols))
}

// recordGrown records that v's cores hold length stripes (the stream
// and, for fresh blobs, the holes).
func (b *Blobs) recordGrown(v *Volume, length uint64) error {
	if b.fresh {
		return b.recordShape(v)
	}
	return b.usage.grew(v.Hex, int64(length)*v.Layout.StripeSize())
}

// appendBlob writes n bytes of src to the open volume's stream as one
// extent and returns the volume and the extent's offset.
func (b *Blobs) appendBlob(ctx context.Context, src io.WriterTo, n int64) (*Volume, int64, error) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, 0, errClosed
		}
		v := b.open
		if v == nil || uint64(v.streamLen()+n) > b.cfg.MaxStripes*uint64(v.Layout.StripeSize()) || !v.writable() {
			nv, err := b.newVolume(ctx)
			if err == nil {
				err = b.setCurrent(nv)
			}
			if err != nil {
				if nv != nil {
					nv.close()
				}
				b.mu.Unlock()
				return nil, 0, err
			}
			b.vols[nv.Hex] = nv
			b.open = nv
			v = nv
		}
		b.mu.Unlock()
		v.wmu.Lock()
		if !v.writable() {
			v.wmu.Unlock()
			if v.err() == nil {
				// A core failed: the next blob goes to a new volume.
				b.mu.Lock()
				if b.open == v {
					b.open = nil
				}
				b.mu.Unlock()
			}
			continue
		}
		off := v.stream
		copied, err := src.WriteTo(v.enc)
		v.stream += copied
		if err == nil && copied != n {
			err = fmt.Errorf("network: blob gave %d bytes, expected %d", copied, n)
		}
		if err != nil {
			// The stream now holds a torn extent: seal this volume.
			v.fail(fmt.Errorf("network: append to volume %s: %w", v.Hex, err))
			v.wmu.Unlock()
			return nil, 0, err
		}
		if n > 0 {
			v.blobEnds(off + n)
		}
		v.lastAppend = time.Now()
		v.wmu.Unlock()
		return v, off, nil
	}
}

// blobEnds notes that a blob ends at stream offset end (> 0), in a stripe
// not yet emitted unless it just filled it; called with wmu held, before
// the stripe can be flushed. The blob's writer reads the stripe's block
// size with endBlock once the blob is durable.
func (v *Volume) blobEnds(end int64) {
	s := uint64((end - 1) / v.Layout.StripeSize())
	v.smu.Lock()
	defer v.smu.Unlock()
	if v.ends == nil {
		v.ends = map[uint64]*stripeEnd{}
	}
	e := v.ends[s]
	if e == nil {
		e = &stripeEnd{}
		v.ends[s] = e
	}
	e.blobs++
	if s < v.enc.Next() {
		e.block = volume.BlockSize // the blob filled the stripe: emitted whole
	}
}

// endBlock returns the block size to record in the extent of a blob that
// ends at end (store.Extent.Block): 0 when the stripe is full size or (the
// blob failed) not emitted, else its short block size. Called once per
// blobEnds, after the wait for durability.
func (v *Volume) endBlock(end int64) int {
	s := uint64((end - 1) / v.Layout.StripeSize())
	v.smu.Lock()
	defer v.smu.Unlock()
	e := v.ends[s]
	if e == nil {
		return 0
	}
	b := e.block
	if e.blobs--; e.blobs <= 0 {
		delete(v.ends, s)
	}
	if b == volume.BlockSize {
		return 0
	}
	return b
}

// takeHoles returns the hole bytes not yet recorded and forgets them (the
// caller records them).
func (v *Volume) takeHoles() int64 {
	v.smu.Lock()
	defer v.smu.Unlock()
	h := v.holes
	v.holes = 0
	return h
}

func (v *Volume) streamLen() int64 {
	v.wmu.Lock()
	defer v.wmu.Unlock()
	return v.stream
}

func (v *Volume) durableLen() int64 {
	v.fmu.Lock()
	defer v.fmu.Unlock()
	return v.durable
}

func (v *Volume) err() error {
	v.fmu.Lock()
	defer v.fmu.Unlock()
	return v.failed
}

// writable reports whether v takes new blobs.
func (v *Volume) writable() bool {
	v.fmu.Lock()
	defer v.fmu.Unlock()
	return v.failed == nil && !v.noWrites && !v.closing
}

func (v *Volume) fail(err error) {
	v.fmu.Lock()
	defer v.fmu.Unlock()
	v.failLocked(err)
}

func (v *Volume) failLocked(err error) {
	if v.failed == nil {
		v.failed = err
		v.b.seal(v)
	}
	for _, w := range v.waiting {
		w.done <- err
	}
	v.waiting = nil
	// No more pushes: the blocks kept for them go.
	for j := range v.mem {
		v.dropMemLocked(j, v.memBase[j]+uint64(len(v.mem[j])))
	}
}

// emit is the stream encoder's output: coded stripes wait in pending for
// the next flush; more than 8 MiB per core (pushCoreBytes with a
// CoreShipper) is appended at once.
func (v *Volume) emit(stripe uint64, shards [][]byte) error {
	v.smu.Lock()
	if e := v.ends[stripe]; e != nil {
		e.block = len(shards[0])
	}
	if b := len(shards[0]); b < volume.BlockSize {
		v.holes += v.Layout.StripeSize() - int64(v.Layout.K*b)
	}
	v.smu.Unlock()
	v.pending = append(v.pending, shards)
	for j := range v.Layout.K {
		// Recently written media is what gets read next.
		v.b.cache.put(blockKey{v.Hex, stripe, j}, shards[j])
	}
	limit := 8 << 20
	if v.b.cs != nil {
		limit = pushCoreBytes
	}
	if len(v.pending)*volume.BlockSize >= limit {
		return v.appendPending(context.Background())
	}
	return nil
}

// pushCoreBytes is, with a CoreShipper, how many bytes per core the
// stripes being appended gather before they go to the local cores, which
// starts their pushes: 4 MiB, the stripes of a 16 MiB blob. Every append
// is a signed commit per core and usually a push to each of the n
// hosters, each push with its fsyncs. With 1 MiB (a push every 4 MiB of
// stream) a 256 MiB phase of 16 MiB PUTs made 350 pushes instead of 91
// and took 0.15 to 0.3 CPU-s more on the gateway and the six hosters
// together, 1 MiB PUTs 602 pushes instead of 420 for about the same CPU
// and time (bench/s3 -put-only, five alternating pairs on the shared
// 2-core machine).
const pushCoreBytes = 4 << 20

// appendPending appends the pending stripes to every core (one signed
// commit per core). Called with wmu held.
func (v *Volume) appendPending(ctx context.Context) error {
	if len(v.pending) == 0 {
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(v.Cores))
	for j, c := range v.Cores {
		blocks := make([][]byte, len(v.pending))
		for s, shards := range v.pending {
			blocks[s] = shards[j]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[j] = c.Append(ctx, blocks...)
		}()
	}
	wg.Wait()
	err := errors.Join(errs...)
	appended := uint64(len(v.pending))
	if v.stop != nil && err == nil {
		v.fmu.Lock()
		// The blocks stay in memory for the pushes (the cores keep none
		// of the blocks they were given: hypercore.Storage.Commit).
		v.keepMemLocked(v.local, v.pending)
		v.local += appended
		if v.b.st != nil {
			v.appended = append(v.appended, lenAt{v.local, time.Now()})
		}
		v.fmu.Unlock()
	} else {
		// Every block the cache does not hold is free for the next stripes.
		for _, shards := range v.pending {
			for _, blk := range shards[v.cachedShards():] {
				v.b.putBlock(blk)
			}
		}
	}
	clear(v.pending)
	v.pending = v.pending[:0]
	if err != nil {
		return err
	}
	if v.stop != nil {
		v.b.st.flushed(appended)
		for _, k := range v.kick {
			select {
			case k <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// waitDurable waits until the stream is durable up to end, starting a
// group commit FlushDelay from now if none is due.
func (v *Volume) waitDurable(ctx context.Context, end int64) error {
	done := make(chan error, 1)
	v.fmu.Lock()
	if v.failed != nil {
		v.fmu.Unlock()
		return v.failed
	}
	if v.durable >= end {
		v.fmu.Unlock()
		return nil
	}
	if v.closing {
		v.fmu.Unlock()
		return errClosed
	}
	v.waiting = append(v.waiting, waiter{end: end, done: done})
	if v.b.st != nil && v.firstWait.IsZero() {
		v.firstWait = time.Now()
	}
	v.scheduleLocked()
	v.endHoldLocked()
	v.fmu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scheduleLocked arranges the flush that waiting blobs need, unless one
// is due already: FlushDelay from now, or, flushing adaptively, at once
// when the volume's pushes are idle and else once they are (flushWanted:
// the worker whose push ends it starts the flush). Called with fmu held.
func (v *Volume) scheduleLocked() {
	if v.timer != nil || v.flushing || v.flushWanted || v.flushGo || v.closing || v.failed != nil {
		return
	}
	if v.adaptive() {
		if !v.flushReadyLocked() {
			v.wantFlushLocked()
			return
		}
		if v.holdLocked() {
			return
		}
		v.timer = v.b.afterFunc(0, v.flush)
		return
	}
	v.timer = v.b.afterFunc(v.b.cfg.FlushDelay, v.flush)
}

// adaptive reports whether v's flushes start when its pushes allow
// (FlushDelay 0 with a CoreShipper) instead of after FlushDelay.
func (v *Volume) adaptive() bool { return v.stop != nil && v.b.cfg.FlushDelay == 0 }

// holdLocked is called when an adaptive flush is ready to start: it
// reports whether the flush waits for company (companyDueLocked), and then
// arranges for it to start FlushWait after it was first ready at the
// latest (writersDone starts it earlier once the company is in). Called
// with fmu held.
func (v *Volume) holdLocked() bool {
	wait := v.b.cfg.FlushWait
	if wait <= 0 {
		return false
	}
	now := time.Now()
	if !v.companyDueLocked(now) {
		return false
	}
	if !v.holding {
		v.holding, v.holdUntil = true, now.Add(wait)
	}
	d := v.holdUntil.Sub(now)
	if d <= 0 {
		return false
	}
	v.timer = v.b.afterFunc(d, v.flush)
	return true
}

// holdMaxStripes: a flush that has this many stripes of blobs to append
// or more does not wait for company (its pushes carry enough bytes that
// their cost per push hardly matters; at 1 MiB blobs the wait only made
// PUTs slower).
const holdMaxStripes = 4

// companyDueLocked reports whether more blobs are expected soon, unless
// the flush has holdMaxStripes stripes of blobs or more already: writers
// are open that have written less than a stripe (their Commit will want
// a flush), or the PUTs whose blobs the last acknowledgement released
// (within FlushWait) have not all come back with a new blob yet (counted
// by the writers created since: under steady load each client's next PUT
// follows the last one's answer). A flush that is not yet holding waits
// for those only when they outnumber the blobs it already has: the
// larger group goes first and the smaller one then waits for it, so
// groups of clients that drifted apart merge into one flush.
func (v *Volume) companyDueLocked(now time.Time) bool {
	end := int64(0)
	for _, w := range v.waiting {
		end = max(end, w.end)
	}
	if end-int64(v.local)*v.Layout.StripeSize() >= holdMaxStripes*v.Layout.StripeSize() {
		return false
	}
	if v.b.openWriters.Load() > 0 {
		return true
	}
	if v.ackN == 0 || now.Sub(v.ackAt) >= v.b.cfg.FlushWait {
		return false
	}
	back := v.b.created.Load() - v.ackCreated
	if back >= uint64(v.ackN) {
		return false
	}
	return v.holding || uint64(len(v.waiting)) < uint64(v.ackN)-back
}

// writersDone starts the flush that waits for company (holdLocked) if
// none is due any more.
func (v *Volume) writersDone() {
	v.fmu.Lock()
	defer v.fmu.Unlock()
	v.endHoldLocked()
}

// endHoldLocked starts the flush that waits for company (holdLocked) if
// none is due any more. Called with fmu held.
func (v *Volume) endHoldLocked() {
	if !v.holding || v.timer == nil || v.closing || v.failed != nil || v.companyDueLocked(time.Now()) {
		return
	}
	if v.timer.Stop() {
		// The timer's flush will not run: this one replaces it.
		v.timer = v.b.afterFunc(0, v.flush)
	}
}

// flushEncoder emits the partial stripe: short (format v2), or padded to
// full size with padFlush. Called with wmu held.
func (v *Volume) flushEncoder() error {
	if v.b.padFlush {
		return v.enc.Flush()
	}
	_, err := v.enc.FlushShort()
	return err
}

// flush emits the partial stripe (short), appends every pending stripe to
// the cores, ships them, and releases the blobs that are now durable.
func (v *Volume) flush() {
	v.fmu.Lock()
	if v.closing {
		v.timer = nil
		v.fmu.Unlock()
		return
	}
	v.flushes.Add(1) // before closing is set: shutdown waits for it
	v.fmu.Unlock()
	defer v.flushes.Done()
	if v.stop != nil {
		v.flushCores()
		return
	}
	v.fmu.Lock()
	v.timer = nil
	v.flushing = true
	v.fmu.Unlock()

	ctx := context.Background()
	v.wmu.Lock()
	if v.isClosing() {
		v.wmu.Unlock()
		v.fmu.Lock()
		v.flushing = false
		v.fmu.Unlock()
		return
	}
	err := v.flushEncoder()
	if err == nil {
		err = v.appendPending(ctx)
	}
	v.stream = int64(v.enc.Next()) * v.Layout.StripeSize()
	end, length := v.stream, v.enc.Next()
	v.wmu.Unlock()
	if err == nil && v.b.cfg.Shipper != nil {
		err = v.b.cfg.Shipper.Ship(ctx, v, length)
	}
	if err != nil {
		v.fmu.Lock()
		v.flushing = false
		v.fmu.Unlock()
		v.fail(err)
		v.b.cfg.Log.Error("volume flush failed; the volume is sealed", "volume", v.Hex, "err", err)
		return
	}
	v.fmu.Lock()
	v.durable = max(v.durable, end)
	rest := v.waiting[:0]
	for _, w := range v.waiting {
		if w.end <= v.durable {
			w.done <- nil
		} else {
			rest = append(rest, w)
		}
	}
	v.waiting = rest
	v.flushing = false
	if len(v.waiting) > 0 && v.timer == nil && !v.closing {
		v.timer = v.b.afterFunc(v.b.cfg.FlushDelay, v.flush)
	}
	v.fmu.Unlock()
}

// coreReserveStep is how far ahead the open volume's local cores reserve
// disk blocks (hypercore.FileStorage.SetReserve).
const coreReserveStep = 4 << 20

// startShipping starts v's core pushes (with a CoreShipper): one worker
// per core, local cores without fsync.
func (b *Blobs) startShipping(v *Volume) {
	if b.cs == nil {
		return
	}
	n := len(v.Cores)
	for _, st := range v.stores {
		st.SetNoSync(true)
		// The cores grow by a block per stripe: reserving their data
		// files' disk blocks ahead makes the appends' writes cheaper.
		st.SetReserve(coreReserveStep)
	}
	v.pushed, v.pushing, v.coreErr = make([]uint64, n), make([]bool, n), make([]error, n)
	v.mem, v.memBase = make([][][]byte, n), make([]uint64, n)
	v.rounds, v.wantRounds = make([]uint64, n), make([]uint64, n)
	v.kick = make([]chan struct{}, n)
	v.wctx, v.stop = context.WithCancel(context.Background())
	for j := range n {
		// A reopened volume starts by learning what the hosters hold.
		v.kick[j] = make(chan struct{}, 1)
		v.kick[j] <- struct{}{}
		v.workers.Add(1)
		go v.worker(j)
	}
}

// stopShipping stops the pushes, syncs the local cores and marks them
// synced, so that the next start continues the volume.
func (v *Volume) stopShipping() error {
	v.stop()
	v.workers.Wait()
	v.fmu.Lock()
	for _, w := range v.waiting {
		w.done <- errClosed
	}
	v.waiting = nil
	for j := range v.mem {
		v.dropMemLocked(j, v.memBase[j]+uint64(len(v.mem[j])))
	}
	v.fmu.Unlock()
	for _, st := range v.stores {
		if st == nil {
			continue
		}
		if err := st.Sync(); err != nil {
			return fmt.Errorf("network: volume %s: %w", v.Hex, err)
		}
	}
	if _, err := os.Stat(sealedFile(v)); err == nil {
		return nil
	}
	return durable.WriteFile(syncedFile(v), []byte("synced\n"))
}

// worker pushes core j to its hosters whenever the local core is ahead of
// them: one push at a time, each carrying all that is new.
func (v *Volume) worker(j int) {
	defer v.workers.Done()
	for {
		select {
		case <-v.kick[j]:
		case <-v.wctx.Done():
			return
		}
		for {
			v.fmu.Lock()
			target := v.local
			if v.pushed[j] >= target || v.coreErr[j] != nil || v.failed != nil {
				v.fmu.Unlock()
				break
			}
			v.pushing[j] = true
			v.fmu.Unlock()
			err := v.prepare(target)
			if err == nil {
				tp := time.Now()
				err = v.b.cs.PushCore(v.wctx, v, j, target)
				v.b.st.add(stPush, time.Since(tp))
			}
			if v.wctx.Err() != nil {
				return
			}
			v.fmu.Lock()
			v.pushing[j] = false
			v.rounds[j]++
			if err != nil {
				v.coreFailedLocked(j, err)
			} else {
				v.pushed[j] = max(v.pushed[j], target)
				v.dropMemLocked(j, v.pushed[j])
			}
			acked := v.releaseLocked()
			flush := v.flushWanted && v.failed == nil && v.flushReadyLocked()
			if flush {
				v.flushWanted, v.flushGo = false, true
			}
			v.fmu.Unlock()
			if acked > 0 {
				v.b.cs.Shipped(v, acked)
			}
			if flush {
				go v.flush()
			}
		}
	}
}

// prepare runs the shipper's Prepare once per volume.
func (v *Volume) prepare(length uint64) error {
	v.pmu.Lock()
	defer v.pmu.Unlock()
	if v.prepared {
		return nil
	}
	if err := v.b.cs.Prepare(v.wctx, v, length); err != nil {
		return err
	}
	v.prepared = true
	return nil
}

// coreFailedLocked records that core j cannot be pushed: new blobs go to
// another volume, and if fewer than AckCores cores are left, every
// waiting blob fails.
func (v *Volume) coreFailedLocked(j int, err error) {
	err = fmt.Errorf("network: volume %s core %d: %w", v.Hex, j, err)
	v.coreErr[j] = err
	v.dropMemLocked(j, v.memBase[j]+uint64(len(v.mem[j])))
	v.b.cfg.Log.Error("push of a volume core failed; the volume takes no more blobs", "volume", v.Hex, "core", j, "err", err)
	if !v.noWrites {
		v.noWrites = true
		v.b.seal(v)
	}
	var errs []error
	for _, e := range v.coreErr {
		if e != nil {
			errs = append(errs, e)
		}
	}
	if len(v.coreErr)-len(errs) < v.b.cfg.AckCores {
		v.failLocked(fmt.Errorf("network: volume %s: %d of %d cores failed, a blob needs %d: %w", v.Hex, len(errs), len(v.coreErr), v.b.cfg.AckCores, errors.Join(errs...)))
	}
}

// releaseLocked acknowledges the waiting blobs that AckCores cores hold
// on their hosters; it returns the new acknowledged length in stripes, or
// 0 if it did not grow.
func (v *Volume) releaseLocked() uint64 {
	ls := slices.Clone(v.pushed)
	slices.SortFunc(ls, func(a, b uint64) int { return cmp.Compare(b, a) })
	acked := ls[v.b.cfg.AckCores-1]
	if acked <= v.shipped {
		return 0
	}
	v.shipped = acked
	for len(v.appended) > 0 && v.appended[0].length <= acked {
		v.b.st.add(stAck, time.Since(v.appended[0].at))
		v.appended = v.appended[1:]
	}
	v.durable = max(v.durable, int64(acked)*v.Layout.StripeSize())
	rest := v.waiting[:0]
	for _, w := range v.waiting {
		if w.end <= v.durable {
			w.done <- nil
		} else {
			rest = append(rest, w)
		}
	}
	if n := len(v.waiting) - len(rest); n > 0 {
		v.ackN, v.ackAt, v.ackCreated = n, time.Now(), v.b.created.Load()
	}
	v.waiting = rest
	return acked
}

// flushReadyLocked reports whether a flush may start: AckCores cores are
// idle, or, once a flush is wanted, AckCores cores have finished the
// pushes that were in flight when it was wanted, even if they push newer
// stripes meanwhile (blobs of a MiB and more append full stripes as they
// come, which keeps the cores from ever being idle all at once: waiting
// for that starved the flush). The blobs that come during those pushes
// share the flush, and so may the blobs expected soon after (holdLocked).
// (Starting it as soon as one core is idle, so that the flush overlaps
// the slower cores' pushes, was measured with format v1, which padded
// every flushed stripe: at 64 KiB it halved the blobs per flush, storage
// x3.5 instead of x2.7, and was not faster. Without the wait for
// company, the push in flight alone made the batching window: at 64 KiB,
// concurrency 8, 2.7 to 3.1 blobs per flush and 1.9 to 2.3 pushes per
// blob; with it (FlushWait 20 ms) mostly 5.6 to 7.4 and 0.8 to 1.1, and
// 25 to 60% less CPU per PUT on the gateway and the hosters together;
// 1 MiB and 16 MiB PUTs never waited. bench/s3, three back-to-back
// pairs on a loaded 2-core machine.)
func (v *Volume) flushReadyLocked() bool {
	if !v.flushWanted {
		return v.idleLocked() >= v.b.cfg.AckCores
	}
	n := 0
	for j := range v.rounds {
		if v.coreErr[j] == nil && v.rounds[j] >= v.wantRounds[j] {
			n++
		}
	}
	return n >= v.b.cfg.AckCores
}

// wantFlushLocked marks a flush as wanted once the pushes in flight (and
// those about to start for stripes already appended) are over.
func (v *Volume) wantFlushLocked() {
	v.flushWanted = true
	for j := range v.rounds {
		v.wantRounds[j] = v.rounds[j]
		if v.pushing[j] || v.pushed[j] < v.local {
			v.wantRounds[j]++
		}
	}
}

// idleLocked counts the cores with nothing to push.
func (v *Volume) idleLocked() int {
	n := 0
	for j := range v.pushed {
		if v.coreErr[j] == nil && !v.pushing[j] && v.pushed[j] >= v.local {
			n++
		}
	}
	return n
}

// flushCores is flush with a CoreShipper: it emits the partial stripe
// (short) and appends the pending stripes to the local cores, which starts
// their pushes; the workers acknowledge the blobs. Until the flush is ready
// (flushReadyLocked) it waits for the pushes in flight (the worker whose
// push makes it ready starts it), so that blobs arriving meanwhile share
// the flush's stripe.
func (v *Volume) flushCores() {
	v.fmu.Lock()
	v.timer = nil
	if v.failed != nil || v.wctx.Err() != nil { // failed, or the store is closing
		v.fmu.Unlock()
		return
	}
	if !v.flushGo && !v.holding && !v.flushReadyLocked() {
		v.wantFlushLocked()
		v.fmu.Unlock()
		return
	}
	v.flushWanted, v.flushGo = false, false
	if v.holdLocked() {
		v.fmu.Unlock()
		return
	}
	if v.holding {
		v.b.st.add(stHold, time.Since(v.holdUntil.Add(-v.b.cfg.FlushWait)))
	}
	v.holding = false
	v.flushing = true
	if !v.firstWait.IsZero() {
		v.b.st.add(stGather, time.Since(v.firstWait))
		v.firstWait = time.Time{}
	}
	v.fmu.Unlock()
	tf := time.Now()
	v.wmu.Lock()
	if v.isClosing() {
		// Close came first: the cores stay as it synced them.
		v.wmu.Unlock()
		v.fmu.Lock()
		v.flushing = false
		v.fmu.Unlock()
		return
	}
	err := v.flushEncoder()
	if err == nil {
		err = v.appendPending(context.Background())
	}
	v.stream = int64(v.enc.Next()) * v.Layout.StripeSize()
	flushed := v.stream
	v.wmu.Unlock()
	v.b.st.add(stFlush, time.Since(tf))
	v.fmu.Lock()
	v.flushing = false
	// Blobs that came while this flush ran need the next one.
	if err == nil && slices.ContainsFunc(v.waiting, func(w waiter) bool { return w.end > flushed }) {
		v.scheduleLocked()
	}
	v.fmu.Unlock()
	if err != nil {
		v.fail(err)
		v.b.cfg.Log.Error("volume flush failed; the volume is sealed", "volume", v.Hex, "err", err)
	}
}

// Open implements store.BlobStore: it reads the data blocks that hold the
// range, block by block, reconstructing a stripe from any k cores when a
// data block is missing or damaged.
func (b *Blobs) Open(ctx context.Context, ref store.BlobRef, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 || offset+length > ref.Size {
		return nil, fmt.Errorf("network: range %d+%d outside blob of %d bytes", offset, length, ref.Size)
	}
	// The read holds the volumes it names before it resolves them: a
	// volume compaction has not started to give up stays until the read
	// is closed, and one it has started on was switched away from first.
	release := b.hold(ref)
	resolved, err := b.resolve(ctx, ref)
	if err != nil {
		release()
		return nil, err
	}
	if !slices.Equal(resolved.Extents, ref.Extents) {
		moved := b.hold(resolved)
		release()
		release = moved
	}
	ref = resolved
	r := &reader{ctx: ctx, b: b, release: release, opened: time.Now(), n: length}
	at := int64(0)
	for _, e := range ref.Extents {
		if e.Block != 0 && (!volume.ValidBlockSize(e.Block) || e.Block == volume.BlockSize || e.Length <= 0) {
			release()
			return nil, fmt.Errorf("network: blob %s: extent of %d bytes with a last stripe of %d-byte blocks (want none, or a multiple of %d below %d)", ref.ID, e.Length, e.Block, volume.ShortAlign, volume.BlockSize)
		}
		lo, hi := max(offset, at), min(offset+length, at+e.Length)
		if lo < hi {
			vr, err := b.ref(ctx, e.Volume)
			if err != nil {
				release()
				return nil, err
			}
			p := piece{vol: e.Volume, layout: vr.Layout, off: e.Offset + lo - at, n: hi - lo, shortBlock: e.Block}
			if e.Block != 0 {
				p.short = uint64((e.Offset + e.Length - 1) / p.layout.StripeSize())
			}
			r.pieces = append(r.pieces, p)
		}
		at += e.Length
	}
	if at != ref.Size {
		release()
		return nil, fmt.Errorf("network: blob %s: extents hold %d bytes, size is %d", ref.ID, at, ref.Size)
	}
	if length > 0 {
		if err := r.fill(); err != nil {
			r.Close()
			return nil, err
		}
	}
	if r.windows > 0 {
		b.gst.add(gsOpen, time.Since(r.opened))
	}
	return r, nil
}

// hold counts a read in flight on each volume ref names, until the
// returned func (idempotent) is called.
func (b *Blobs) hold(ref store.BlobRef) func() {
	var vols []string
	for _, e := range ref.Extents {
		if !slices.Contains(vols, e.Volume) {
			vols = append(vols, e.Volume)
		}
	}
	b.mu.Lock()
	if b.readers == nil {
		b.readers = map[string]int{}
	}
	for _, v := range vols {
		b.readers[v]++
	}
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			for _, v := range vols {
				if b.readers[v]--; b.readers[v] <= 0 {
					delete(b.readers, v)
				}
			}
		})
	}
}

// reading reports whether a read in flight holds volume vol.
func (b *Blobs) reading(vol string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readers[vol] > 0
}

type piece struct {
	vol string
	// layout is the volume's, as it was written (Blobs.ref).
	layout volume.Layout
	off    int64
	n      int64
	// shortBlock, when not 0, is the block size of stripe short, the last
	// stripe of the piece's extent (every other stripe is full size).
	short      uint64
	shortBlock int
}

// blockLen is the block size of stripe s of the piece's extent.
func (p *piece) blockLen(s uint64) int {
	if p.shortBlock != 0 && s == p.short {
		return p.shortBlock
	}
	return volume.BlockSize
}

// locate is where stream offset off of the piece is, and the block size
// of its stripe.
func (p *piece) locate(l volume.Layout, off int64) (volume.Pos, int, error) {
	bl := p.blockLen(uint64(off / l.StripeSize()))
	pos, err := l.LocateIn(off, bl)
	if err != nil {
		return pos, 0, fmt.Errorf("network: volume %s: %w", p.vol, err)
	}
	return pos, bl, nil
}

type reader struct {
	// release ends the read's hold on its volumes (Blobs.hold).
	release func()

	ctx    context.Context
	b      *Blobs
	pieces []piece
	buf    []byte
	win    map[blockKey][]byte // blocks of the last window read from hosters
	// winRelease gives the buffers of win back to the Remote (the
	// blocks are copied out by Read, and win is replaced or dropped
	// only when they are all consumed).
	winRelease func()
	ahead      []*window // the next windows of the piece, being fetched
	// stream, when not nil, holds win's bytes in stream order: volume
	// streamVol from offset streamAt on (Remote.read). A read within it
	// takes everything up to its end at once.
	stream    []byte
	streamVol string
	streamAt  int64

	// For the read stage timings (stages.go).
	opened  time.Time
	n       int64 // bytes asked
	windows int   // windows read from hosters
}

// fill reads the next run of the current piece, up to the end of a block.
func (r *reader) fill() error {
	for len(r.pieces) > 0 && r.pieces[0].n == 0 {
		r.pieces = r.pieces[1:]
	}
	if len(r.pieces) == 0 {
		return io.EOF
	}
	p := &r.pieces[0]
	pos, bl, err := p.locate(p.layout, p.off)
	if err != nil {
		return err
	}
	var block []byte
	if r.b.cfg.Remote != nil {
		b, err := r.remoteBlock(p, pos, bl)
		if err != nil {
			return err
		}
		block = b
	} else {
		v, err := r.b.volumeFor(r.ctx, p.vol)
		if err != nil {
			return err
		}
		if block, err = v.dataBlock(r.ctx, pos.Stripe, pos.Shard, bl); err != nil {
			return err
		}
	}
	take := min(int64(bl-pos.Offset), p.n)
	r.buf = block[pos.Offset : int64(pos.Offset)+take]
	if i := p.off - r.streamAt; r.stream != nil && p.vol == r.streamVol && i >= 0 && i < int64(len(r.stream)) && &r.stream[i] == &r.buf[0] {
		// The window lies in stream order: everything of the piece up
		// to its end.
		take = min(int64(len(r.stream))-i, p.n)
		r.buf = r.stream[i : i+take : i+take]
	}
	p.off += take
	p.n -= take
	return nil
}

// remoteBlock returns the data block at pos of piece p, bl bytes long:
// from the last window, the cache, or a new window read from the hosters
// (the blocks of the next ReadWindow bytes of the piece, fetched at once).
func (r *reader) remoteBlock(p *piece, pos volume.Pos, bl int) ([]byte, error) {
	k := blockKey{p.vol, pos.Stripe, pos.Shard}
	if b := r.win[k]; len(b) == bl {
		return b, nil
	}
	verify := store.Verifying(r.ctx)
	if !verify {
		if b := r.b.cache.get(k); len(b) == bl {
			return b, nil
		}
	}
	// The last window is used up (Read and Span lend its bytes only until
	// the next call): give its buffers back before more are taken, so a
	// reader holds its current window and the ones ahead, no more.
	r.dropWindow()
	ref, err := r.b.ref(r.ctx, p.vol)
	if err != nil {
		return nil, err
	}
	size := r.b.cfg.ReadWindow
	if r.windows == 0 {
		size = r.b.cfg.FirstWindow
	}
	w, err := r.b.window(ref, p, p.off, p.n, size)
	if err != nil {
		return nil, err
	}
	// Without a block cache to keep them, blocks are read into buffers
	// the Remote reuses once the window is consumed.
	pooled := r.b.cache == nil
	var ahead *window
	if len(r.ahead) > 0 && r.ahead[0].same(w) {
		ahead = r.ahead[0]
		r.ahead = r.ahead[1:]
	} else {
		r.stopNext()
	}
	tw := time.Now()
	if ahead == nil && !verify {
		// The window wanted now goes out first, hedged as configured
		// (Remote.read with no urgent channel); the ones ahead follow.
		ahead = r.b.startWindow(r.ctx, ref, w, pooled, nil, 0)
	}
	// Fetch the piece's next windows while this one is read and
	// consumed, lazily (Remote.read): a window that is ready before it
	// is wanted costs no extra core's bytes.
	if !verify {
		end := w.end
		if len(r.ahead) > 0 {
			end = r.ahead[len(r.ahead)-1].end
		}
		for next := int64(end) * ref.Layout.StripeSize(); len(r.ahead) < r.b.cfg.ReadAhead && next < p.off+p.n; {
			nw, err := r.b.window(ref, p, next, p.off+p.n-next, r.b.cfg.ReadWindow)
			if err != nil {
				break // the read gets to it and fails there
			}
			bytes := int64(nw.end-nw.first) * ref.Layout.StripeSize()
			if !r.b.aheadBudget(bytes) {
				break // read when wanted
			}
			r.ahead = append(r.ahead, r.b.startWindow(r.ctx, ref, nw, pooled, make(chan struct{}), bytes))
			next = int64(nw.end) * ref.Layout.StripeSize()
		}
	}
	var rows [][][]byte
	var stream []byte
	release := noRelease
	if ahead != nil {
		select {
		case <-ahead.done:
		default:
			if ahead.urgent != nil {
				close(ahead.urgent) // wanted now: hedge
			}
			<-ahead.done
		}
		ahead.cancel()
		r.b.aheadBudget(-ahead.budget)
		rows, stream, release, err = ahead.rows, ahead.stream, ahead.release, ahead.err
	} else {
		rows, stream, release, err = r.b.cfg.Remote.read(r.ctx, ref, w.first, w.end, w.lastLen, w.need, verify, false, nil)
		r.b.gst.add(gsRead, time.Since(tw))
	}
	if r.windows > 0 {
		r.b.gst.add(gsWait, time.Since(tw))
	}
	r.windows++
	if err != nil {
		r.stopNext()
		return nil, err
	}
	r.winRelease = release
	if stream != nil {
		r.stream, r.streamVol, r.streamAt = stream, p.vol, int64(w.first)*ref.Layout.StripeSize()
	}
	r.win = make(map[blockKey][]byte, len(rows)*ref.Layout.K)
	for i, row := range rows {
		for j, b := range row {
			if b != nil && w.need[j] {
				bk := blockKey{p.vol, w.first + uint64(i), j}
				r.win[bk] = b
				r.b.cache.put(bk, b)
			}
		}
	}
	if b := r.win[k]; len(b) == bl {
		return b, nil
	}
	return nil, fmt.Errorf("network: volume %s: block %d of core %d not read: %w", p.vol, pos.Stripe, pos.Shard, store.ErrDataShort)
}

// startWindow starts reading window w from the hosters, under a context
// of ctx that the window's cancel ends. urgent, when not nil, makes the
// read lazy (Remote.read; close it when the window is wanted). budget is
// what the window holds of Config.ReadAheadBytes (aheadBudget), given back
// by whoever takes the window or, once its read ended, by stopNext.
func (b *Blobs) startWindow(ctx context.Context, ref VolumeRef, w *window, pooled bool, urgent chan struct{}, budget int64) *window {
	w.done = make(chan struct{})
	w.urgent = urgent
	w.budget = budget
	ctx, w.cancel = context.WithCancel(ctx)
	go func() {
		defer close(w.done)
		t := time.Now()
		w.rows, w.stream, w.release, w.err = b.cfg.Remote.read(ctx, ref, w.first, w.end, w.lastLen, w.need, false, pooled, urgent)
		b.gst.add(gsRead, time.Since(t))
	}()
	return w
}

// aheadBudget reserves n bytes of Config.ReadAheadBytes for a window read
// ahead, and reports whether they were free (a negative n gives bytes
// back and reports true).
func (b *Blobs) aheadBudget(n int64) bool {
	if n <= 0 {
		b.ahead.Add(n)
		return true
	}
	if b.ahead.Add(n) > b.cfg.ReadAheadBytes {
		b.ahead.Add(-n)
		return false
	}
	return true
}

// window is one read from the hosters: data shards need of stripes
// [first, end) of a volume.
type window struct {
	vol        string
	first, end uint64
	lastLen    int // block size of stripe end-1 (0: full size, as all others)
	need       []bool
	done       chan struct{}
	cancel     context.CancelFunc
	urgent     chan struct{} // closed when the window is wanted (lazy reads)
	budget     int64         // bytes of Config.ReadAheadBytes it holds
	rows       [][][]byte
	stream     []byte // the rows' bytes in stream order, when Remote.read laid them so
	release    func() // of the rows' buffers
	err        error
}

func (w *window) same(o *window) bool {
	return w.vol == o.vol && w.first == o.first && w.end == o.end && w.lastLen == o.lastLen && slices.Equal(w.need, o.need)
}

// window returns the read that serves stream offset off of piece p with n
// bytes left: from off's stripe to a stripe boundary at most size bytes
// on (rounded down to whole stripes, at least one), or to the range's end
// when that is at most a quarter of size further (no window of a few
// bytes at the end: a 16 MiB blob's sealed stream is 4 KiB longer); the data shards of the range when it is within one stripe,
// else all of them. Only the piece's last stripe can be short (lastLen).
// A range no longer than a stripe that crosses a stripe boundary (a small
// object, most often) is read as two windows of one stripe each, with only
// the shards it holds: as one window it would ask every core (and one
// more) for both stripes, k+1 blocks per stripe for at most k+1 needed in
// all.
func (b *Blobs) window(ref VolumeRef, p *piece, off, n, size int64) (*window, error) {
	l := ref.Layout
	win := max(l.StripeSize(), size/l.StripeSize()*l.StripeSize())
	if rest := win - off%l.StripeSize(); n > rest && n-rest > win/4 {
		n = rest
	}
	n = max(1, n)
	if rest := l.StripeSize() - off%l.StripeSize(); n <= l.StripeSize() && n > rest {
		n = rest
	}
	first, end := l.StripeRange(off, n)
	w := &window{vol: p.vol, first: first, end: end, need: make([]bool, l.K)}
	if bl := p.blockLen(end - 1); bl != volume.BlockSize {
		w.lastLen = bl
	}
	if end-first == 1 {
		lo, _, err := p.locate(l, off)
		if err != nil {
			return nil, err
		}
		hi, _, err := p.locate(l, off+n-1)
		if err != nil {
			return nil, err
		}
		for j := lo.Shard; j <= hi.Shard; j++ {
			w.need[j] = true
		}
	} else {
		for j := range w.need {
			w.need[j] = true
		}
	}
	return w, nil
}

// dropWindow gives the buffers of the current window back.
func (r *reader) dropWindow() {
	if r.winRelease != nil {
		r.winRelease()
		r.winRelease = nil
	}
	r.win, r.stream = nil, nil
}

// stopNext drops the prefetched windows; each gives its buffers and its
// budget back once its read has ended.
func (r *reader) stopNext() {
	for _, w := range r.ahead {
		w.cancel()
		go func() {
			<-w.done
			if w.release != nil {
				w.release()
			}
			r.b.aheadBudget(-w.budget)
		}()
	}
	r.ahead = nil
}

// ref returns the VolumeRef of volume hexID, with the layout it was
// written with (volumeLayout; keys derived once).
func (b *Blobs) ref(ctx context.Context, hexID string) (VolumeRef, error) {
	b.mu.Lock()
	r, ok := b.refs[hexID]
	b.mu.Unlock()
	if ok {
		return r, nil
	}
	id, err := hex.DecodeString(hexID)
	if err != nil || len(id) == 0 || len(id) > volume.MaxVolumeIDSize {
		return VolumeRef{}, fmt.Errorf("network: bad volume id %q", hexID)
	}
	l, err := b.volumeLayout(ctx, hexID)
	if err != nil {
		return VolumeRef{}, err
	}
	if r, err = NewVolumeRef(b.cfg.Master, id, l); err != nil {
		return VolumeRef{}, err
	}
	r.Dir = filepath.Dir(b.coreDir(hexID, 0))
	b.mu.Lock()
	b.refs[hexID] = r
	b.mu.Unlock()
	return r, nil
}

// Ref returns the VolumeRef of the volume an extent names.
func (b *Blobs) Ref(ctx context.Context, hexID string) (VolumeRef, error) { return b.ref(ctx, hexID) }

// CacheSize is the number of bytes the block cache holds.
func (b *Blobs) CacheSize() int64 { return b.cache.size() }

func (r *reader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Span implements store.SpanReader: the next bytes, at most n, where they
// lie: up to the end of a window read from the hosters in stream order
// (Remote.read), else of the block being read (from a window, the cache
// or a local core).
func (r *reader) Span(n int) ([]byte, error) {
	if len(r.buf) == 0 {
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
	m := min(n, len(r.buf))
	out := r.buf[:m:m]
	r.buf = r.buf[m:]
	return out, nil
}

func (r *reader) Close() error {
	if r.windows > 0 && r.release != nil {
		r.b.gst.add(gsGet, time.Since(r.opened))
		r.b.gst.committed(r.n)
		r.windows = 0
	}
	r.stopNext()
	r.buf = nil
	r.dropWindow()
	if r.release != nil {
		r.release()
	}
	return nil
}

// dataBlock returns block stripe of data core shard, bl bytes long (the
// stripe's block size), from that core if it has it intact, else rebuilt
// from any k cores.
func (v *Volume) dataBlock(ctx context.Context, stripe uint64, shard, bl int) ([]byte, error) {
	if c := v.Cores[shard]; c != nil {
		blk, err := c.Get(ctx, stripe)
		if err == nil && len(blk) == bl {
			return blk, nil
		}
		if err != nil && ctx.Err() != nil {
			return nil, err
		}
	}
	l := v.Layout
	shards := make([][]byte, l.N())
	have := 0
	for j, c := range v.Cores {
		if c == nil || j == shard || have == l.K {
			continue
		}
		blk, err := c.Get(ctx, stripe)
		if err == nil && len(blk) == bl {
			shards[j] = blk
			have++
		}
	}
	if have < l.K {
		return nil, fmt.Errorf("network: volume %s stripe %d: %d of %d cores readable: %w", v.Hex, stripe, have, l.K, store.ErrDataShort)
	}
	coder, err := v.b.coderFor(l)
	if err != nil {
		return nil, err
	}
	if err := coder.ReconstructData(shards); err != nil {
		return nil, fmt.Errorf("network: volume %s stripe %d: %w", v.Hex, stripe, err)
	}
	return shards[shard], nil
}

// Delete implements store.BlobStore. The bytes of a deleted blob are
// unreadable once its key is gone (the store is used under crypt.Blobs);
// the space they take in their volume is counted as dead (Usage) and
// reclaimed by compaction (compact.go).
func (b *Blobs) Delete(_ context.Context, refs ...store.BlobRef) error {
	var gone []extentGone
	for _, r := range refs {
		for _, e := range r.Extents {
			gone = append(gone, extentGone{id: r.ID, vol: e.Volume, n: e.Length})
		}
	}
	return b.usage.deleted(gone)
}

// Usage returns, per volume, its durable stream length and the bytes of
// live blobs in it (requires Config.UsagePath).
func (b *Blobs) Usage() ([]VolumeUsage, error) { return b.usage.all() }
