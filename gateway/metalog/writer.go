package metalog

import (
	"context"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/datdot/datdot/durable"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/datdot/datdot/gateway/secret"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/gateway/store/network"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
)

// Config configures a Writer.
type Config struct {
	// Dir holds the log's state and the writer's copy of the current
	// generation's cores (DATA/metalog).
	Dir    string
	Master []byte
	// Layout of the log's volumes (default k=2, m=1... the data layout is
	// a good choice: the same hosters can hold it).
	Layout volume.Layout
	Meta   *Journaled
	// Shipper sends each flushed length to hosters (an order on chain per
	// generation); nil keeps the log on this machine.
	Shipper network.Shipper
	// Interval between two syncs (default 1 s). A write is in the log
	// on the network at most about Interval after it is acknowledged
	// (plus the time to push to hosters): that is the recovery point.
	Interval time.Duration
	// RotateBytes: once the syncs of a generation wrote more than this
	// many bytes after its snapshot (frames as stored on the cores, not
	// the holes of short stripes), and more than the snapshot itself, the
	// next sync that writes starts the next generation with a new
	// snapshot (default 256 MiB). A generation is thus at most about
	// twice its snapshot, or its snapshot and RotateBytes, and a sync that
	// writes nothing never rotates.
	RotateBytes int64
	// BatchBytes bounds the state taken from the journal at once
	// (default 8 MiB).
	BatchBytes int
	// ShredAfter bounds how long the wrapped key of a deleted object
	// version stays in the log on the network (default 1 h): once a
	// version has been dropped (a delete, an overwrite, an expired hidden
	// version), the next sync this long after starts a new generation
	// with a snapshot of what is left, and every older generation's order
	// is cancelled once that snapshot is on the hosters (they drop its
	// cores). Crypto-shredding needs it: the log is encrypted under a
	// key derived from the master secret, which is kept.
	ShredAfter time.Duration
	Log        *slog.Logger
}

// Status is what the writer last did; it is also written to
// Dir/status.json after every sync, for operators and scripts.
type Status struct {
	Gen      uint64    `json:"gen"`
	Length   uint64    `json:"length"`  // stripes in the current generation
	Shipped  uint64    `json:"shipped"` // stripes acknowledged by hosters
	Pending  int       `json:"pending"` // journal marks not yet in the log
	Frames   uint64    `json:"frames"`  // frames written by this process
	Bytes    int64     `json:"bytes"`   // stream bytes of the generation
	Snapshot int64     `json:"snapshot_bytes"`
	Synced   time.Time `json:"synced"`
	Error    string    `json:"error,omitempty"`
}

// Writer appends the journal's changes to the log and ships them.
type Writer struct {
	cfg   Config
	aead  cipher.AEAD
	coder *volume.Coder

	mu  sync.Mutex
	cur *genVol
	// retired are older generations whose orders are still to be
	// cancelled; their directories stay until they are.
	retired []*genVol
	st      Status

	dropMu sync.Mutex
	dropAt time.Time // first version dropped since the snapshot; zero: none
}

// Canceller is a Shipper that can also end a volume's order, so that its
// hosters drop the cores (onchain.Shipper).
type Canceller interface {
	Cancel(ctx context.Context, v *network.Volume) error
}

type genVol struct {
	gen     uint64
	vol     *network.Volume
	enc     *volume.StreamEncoder
	pending [][][]byte
	stream  int64
	shipped uint64
	// broken: a local write failed part way; the next sync starts a new
	// generation (a failed ship is only retried).
	broken bool
	// snapLen is the length at which the snapshot ends (0 for a
	// generation reopened after a restart: it became current only with
	// its snapshot complete, and is on the hosters after the first ship).
	snapLen uint64
	// snapBytes is the bytes the cores stored at the snapshot's end
	// (stored; kept in the generation's snap-bytes file).
	snapBytes int64
}

// stored is the stream bytes gv's data cores hold: the frames written,
// each flush's last stripe rounded up to k × 64 bytes (short stripes,
// docs/volume-format.md), without the holes of short stripes.
func (gv *genVol) stored() int64 {
	var n int64
	for _, c := range gv.vol.Cores[:gv.vol.Layout.K] {
		n += int64(c.Info().ByteLength)
	}
	return n
}

// snapBytesFile keeps a generation's snapBytes across restarts.
func snapBytesFile(dir string) string { return filepath.Join(dir, "snap-bytes") }

// DefaultLayout of the log's volumes when none is given.
var DefaultLayout = volume.Layout{K: 2, M: 1}

// Open opens the writer's state in cfg.Dir (creating it). The first
// generation is started, with a snapshot, by the first Sync.
func Open(cfg Config) (*Writer, error) {
	if cfg.Layout == (volume.Layout{}) {
		cfg.Layout = DefaultLayout
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.RotateBytes <= 0 {
		cfg.RotateBytes = 256 << 20
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 8 << 20
	}
	if cfg.ShredAfter <= 0 {
		cfg.ShredAfter = time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Meta == nil {
		return nil, errors.New("metalog: no metadata store")
	}
	if len(cfg.Master) < secret.MinSize {
		return nil, fmt.Errorf("metalog: master secret of %d bytes", len(cfg.Master))
	}
	coder, err := volume.NewCoder(cfg.Layout)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(secret.MetalogKey(cfg.Master))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("metalog: %w", err)
	}
	w := &Writer{cfg: cfg, aead: aead, coder: coder}
	cfg.Meta.setDropped(w.dropped)
	g, ok, err := readUint(filepath.Join(cfg.Dir, "current"))
	if err != nil {
		return nil, err
	} else if ok {
		cur, err := w.openGen(context.Background(), g)
		if err != nil {
			// It is retired with the older generations below (its order
			// is cancelled once the new snapshot is on the hosters).
			cfg.Log.Warn("metadata log: the current generation does not reopen; a new one starts with a snapshot", "gen", g, "err", err)
			ok = false
		} else {
			w.cur = cur
			w.st.Gen, w.st.Length, w.st.Bytes = g, cur.enc.Next(), cur.stream
		}
	}
	// Any other generation directory is an older generation whose order
	// was not cancelled yet.
	dirs, _ := filepath.Glob(filepath.Join(cfg.Dir, "gen-*"))
	for _, d := range dirs {
		og, err := strconv.ParseUint(strings.TrimPrefix(filepath.Base(d), "gen-"), 10, 64)
		if err != nil || (ok && og == g) {
			continue
		}
		v, err := w.newVolumeStruct(og)
		if err != nil {
			return nil, err
		}
		w.retired = append(w.retired, &genVol{gen: og, vol: v})
	}
	return w, nil
}

// dropped is told by the journaled store that an object version (and its
// wrapped key) left the metadata: the log has to forget it within
// ShredAfter. The first drop since the current generation's snapshot is
// remembered durably (DIR/dropped), so that a restart does not forget it.
func (w *Writer) dropped() {
	p := filepath.Join(w.cfg.Dir, "dropped")
	w.dropMu.Lock()
	defer w.dropMu.Unlock()
	if !w.dropAt.IsZero() {
		return
	}
	now := time.Now().UTC()
	if err := durable.WriteFile(p, []byte(now.Format(time.RFC3339Nano)+"\n")); err != nil {
		w.cfg.Log.Warn("metadata log: remember a dropped version", "err", err)
	}
	w.dropAt = now
}

// dropDue reports whether a version was dropped at least ShredAfter ago.
func (w *Writer) dropDue(now time.Time) bool {
	w.dropMu.Lock()
	defer w.dropMu.Unlock()
	if w.dropAt.IsZero() {
		if data, err := os.ReadFile(filepath.Join(w.cfg.Dir, "dropped")); err == nil {
			if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data))); err == nil {
				w.dropAt = t
			}
		}
	}
	return !w.dropAt.IsZero() && now.Sub(w.dropAt) >= w.cfg.ShredAfter
}

// clearDrop forgets the drops seen before a snapshot starts (the snapshot
// does not hold them); drops after it set the mark again.
func (w *Writer) clearDrop() error {
	w.dropMu.Lock()
	defer w.dropMu.Unlock()
	w.dropAt = time.Time{}
	if err := os.Remove(filepath.Join(w.cfg.Dir, "dropped")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("metalog: %w", err)
	}
	return nil
}

// Close closes the current generation's cores.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur != nil {
		closeCores(w.cur.vol)
		w.cur = nil
	}
	return nil
}

func closeCores(v *network.Volume) {
	for _, c := range v.Cores {
		if c != nil {
			c.Close()
		}
	}
}

func (w *Writer) genDir(g uint64) string { return filepath.Join(w.cfg.Dir, fmt.Sprintf("gen-%d", g)) }

func (w *Writer) newVolumeStruct(g uint64) (*network.Volume, error) {
	id := secret.MetalogVolumeID(w.cfg.Master, g)
	keys, err := volume.CoreKeys(w.cfg.Master, id, w.cfg.Layout)
	if err != nil {
		return nil, err
	}
	return &network.Volume{ID: id, Hex: hex.EncodeToString(id), Keys: keys, Dir: w.genDir(g),
		Layout: w.cfg.Layout, Cores: make([]*hypercore.Core, w.cfg.Layout.N())}, nil
}

// openGen reopens generation g's cores; they must all have one length,
// and the generation must have been written with the configured layout
// (a generation of another layout is not continued: the writer starts a
// new one). A generation of a version that did not record its layout
// has it recorded when its cores show the configured one
// (network.AdoptLayout), and is continued.
func (w *Writer) openGen(ctx context.Context, g uint64) (*genVol, error) {
	v, err := w.newVolumeStruct(g)
	if err != nil {
		return nil, err
	}
	if l, ok, err := network.AdoptLayout(ctx, v.Dir, w.cfg.Layout); err != nil {
		return nil, err
	} else if !ok || l != w.cfg.Layout {
		return nil, fmt.Errorf("metalog: generation %d was written with layout %+v (recorded: %v), the log's is now %+v", g, l, ok, w.cfg.Layout)
	}
	for j := range v.Cores {
		st, err := hypercore.OpenFileStorage(filepath.Join(v.Dir, fmt.Sprintf("core-%03d", j)))
		if err != nil {
			closeCores(v)
			return nil, err
		}
		if v.Cores[j], err = hypercore.Open(ctx, st, v.Keys[j]); err != nil {
			st.Close()
			closeCores(v)
			return nil, err
		}
		if v.Cores[j].Length() != v.Cores[0].Length() {
			closeCores(v)
			return nil, fmt.Errorf("metalog: generation %d: cores of different lengths (a crash during a flush)", g)
		}
	}
	gv := &genVol{gen: g, vol: v}
	length := v.Cores[0].Length()
	gv.enc = w.coder.NewStreamEncoder(length, gv.emit)
	gv.stream = int64(length) * w.cfg.Layout.StripeSize()
	// A generation of an older version has no snap-bytes: 0 counts all
	// it holds as written since its snapshot.
	if sb, ok, err := readUint(snapBytesFile(v.Dir)); err == nil && ok {
		gv.snapBytes = int64(sb)
	}
	return gv, nil
}

func (gv *genVol) emit(_ uint64, shards [][]byte) error {
	gv.pending = append(gv.pending, shards)
	return nil
}

// createGen makes the cores of a new generation g.
func (w *Writer) createGen(ctx context.Context, g uint64) (*genVol, error) {
	v, err := w.newVolumeStruct(g)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(v.Dir); err != nil {
		return nil, fmt.Errorf("metalog: %w", err)
	}
	for j := range v.Cores {
		st, err := hypercore.OpenFileStorage(filepath.Join(v.Dir, fmt.Sprintf("core-%03d", j)))
		if err != nil {
			closeCores(v)
			return nil, err
		}
		if v.Cores[j], err = hypercore.Create(ctx, st, v.Keys[j], false); err != nil {
			st.Close()
			closeCores(v)
			return nil, err
		}
	}
	if err := network.WriteLayout(v.Dir, v.Layout); err != nil {
		closeCores(v)
		return nil, err
	}
	gv := &genVol{gen: g, vol: v}
	gv.enc = w.coder.NewStreamEncoder(0, gv.emit)
	return gv, nil
}

// writeFrame appends one frame to gv's stream.
func (w *Writer) writeFrame(gv *genVol, b *body) error {
	b.Gen, b.Time = gv.gen, time.Now().UTC()
	f, err := sealFrame(w.aead, gv.vol.ID, gv.stream, b)
	if err != nil {
		return err
	}
	if _, err := gv.enc.Write(f); err != nil {
		gv.broken = true
		return err
	}
	gv.stream += int64(len(f))
	w.st.Frames++
	// Bound memory: coded stripes go to the cores every 8 MiB.
	if len(gv.pending)*volume.BlockSize >= 8<<20 {
		if err := w.appendPending(context.Background(), gv); err != nil {
			gv.broken = true
			return err
		}
	}
	return nil
}

func (w *Writer) appendPending(ctx context.Context, gv *genVol) error {
	if len(gv.pending) == 0 {
		return nil
	}
	errs := make([]error, len(gv.vol.Cores))
	var wg sync.WaitGroup
	for j, c := range gv.vol.Cores {
		blocks := make([][]byte, len(gv.pending))
		for s, shards := range gv.pending {
			blocks[s] = shards[j]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[j] = c.Append(ctx, blocks...)
		}()
	}
	wg.Wait()
	gv.pending = gv.pending[:0]
	return errors.Join(errs...)
}

// flush ends the stream's stripe (short: format v2), appends to the cores
// and ships.
func (w *Writer) flush(ctx context.Context, gv *genVol) error {
	if err := w.flushLocal(ctx, gv); err != nil {
		return err
	}
	return w.ship(ctx, gv)
}

// flushLocal ends the stream's stripe and appends to the cores: a partial
// stripe goes as a short stripe (docs/volume-format.md, v2), its blocks
// about its bytes / k instead of 64 KiB; readers see the rest of the
// stripe as zeros (fetchedVolume.stripe), as they saw the padding of v1.
func (w *Writer) flushLocal(ctx context.Context, gv *genVol) error {
	if _, err := gv.enc.FlushShort(); err != nil {
		gv.broken = true
		return err
	}
	if err := w.appendPending(ctx, gv); err != nil {
		gv.broken = true
		return err
	}
	gv.stream = int64(gv.enc.Next()) * w.cfg.Layout.StripeSize()
	return nil
}

func (w *Writer) ship(ctx context.Context, gv *genVol) error {
	length := gv.enc.Next()
	if w.cfg.Shipper == nil || length == 0 || gv.shipped >= length {
		gv.shipped = max(gv.shipped, length)
		return nil
	}
	if err := w.cfg.Shipper.Ship(ctx, gv.vol, length); err != nil {
		return fmt.Errorf("metalog: ship generation %d: %w", gv.gen, err)
	}
	gv.shipped = length
	return nil
}

// startGen starts the next generation with a snapshot of the whole
// metadata, ships it, and makes it current.
func (w *Writer) startGen(ctx context.Context) error {
	g := uint64(0)
	if h, ok, err := readUint(filepath.Join(w.cfg.Dir, "highest")); err != nil {
		return err
	} else if ok {
		g = h + 1
	}
	gv, err := w.createGen(ctx, g)
	if err != nil {
		return err
	}
	// The snapshot holds nothing dropped before this point.
	if err := w.clearDrop(); err != nil {
		closeCores(gv.vol)
		return err
	}
	var batch []local.Change
	size := 0
	put := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := w.writeFrame(gv, &body{Kind: kindSnapshot, Changes: batch})
		batch, size = nil, 0
		return err
	}
	err = w.cfg.Meta.Meta.Snapshot(ctx, func(c local.Change) error {
		batch = append(batch, c)
		if size += c.Size(); size >= frameTarget {
			return put()
		}
		return nil
	})
	if err == nil {
		err = put()
	}
	if err == nil {
		err = w.writeFrame(gv, &body{Kind: kindSnapEnd})
	}
	if err == nil {
		err = w.flushLocal(ctx, gv)
	}
	if err != nil {
		closeCores(gv.vol)
		return fmt.Errorf("metalog: snapshot into generation %d: %w", g, err)
	}
	gv.snapLen = gv.enc.Next()
	gv.snapBytes = gv.stored()
	if err := durable.WriteFile(snapBytesFile(gv.vol.Dir), uintLine(uint64(gv.snapBytes))); err != nil {
		closeCores(gv.vol)
		return err
	}
	// Never reuse a generation number once its keys may sign data on
	// hosters: only the current generation is shipped, so the number is
	// recorded as used just before the generation becomes current. An
	// attempt that failed before (a local error) shipped nothing, and the
	// next one takes the same number: numbers do not run ahead of the
	// generations made, and recovery's scan (findGens) finds the newest.
	if err := durable.WriteFile(filepath.Join(w.cfg.Dir, "highest"), uintLine(g)); err != nil {
		closeCores(gv.vol)
		return err
	}
	if g >= DefaultMaxGen {
		w.cfg.Log.Warn("metadata log: generation number past recovery's default scan; recover with --max-gen above it", "gen", g, "default", uint64(DefaultMaxGen))
	}
	// The snapshot is complete here: the generation becomes current and
	// is shipped now or, if the hosters cannot be reached, by the next
	// syncs. Until its end frame is on the hosters, recovery reads the
	// previous generation, which they still hold.
	if err := durable.WriteFile(filepath.Join(w.cfg.Dir, "current"), uintLine(g)); err != nil {
		closeCores(gv.vol)
		return err
	}
	old := w.cur
	w.cur = gv
	w.st.Snapshot = gv.stream
	w.cfg.Log.Info("metadata log: new generation with a snapshot", "gen", g, "bytes", gv.stream)
	if old != nil {
		// The hosters keep the old generation until its order is
		// cancelled, which retire does once this snapshot is on them.
		w.retired = append(w.retired, old)
	}
	if err := w.ship(ctx, gv); err != nil {
		return err
	}
	return w.retire(ctx)
}

// retire cancels the orders of the older generations once the current
// generation's snapshot is on the hosters (recovery reads it from then
// on), and removes their local copies. A generation whose cancel fails
// stays retired and is tried again at the next sync.
func (w *Writer) retire(ctx context.Context) error {
	if len(w.retired) == 0 || w.cur == nil || w.cur.shipped == 0 || w.cur.shipped < w.cur.snapLen {
		return nil
	}
	c, canCancel := w.cfg.Shipper.(Canceller)
	var errs []error
	kept := w.retired[:0]
	for _, old := range w.retired {
		if canCancel {
			if err := c.Cancel(ctx, old.vol); err != nil {
				errs = append(errs, fmt.Errorf("metalog: cancel generation %d: %w", old.gen, err))
				kept = append(kept, old)
				continue
			}
		}
		closeCores(old.vol)
		if err := os.RemoveAll(w.genDir(old.gen)); err != nil {
			errs = append(errs, fmt.Errorf("metalog: %w", err))
		}
		w.cfg.Log.Info("metadata log: older generation retired", "gen", old.gen, "cancelled", canCancel)
	}
	w.retired = kept
	return errors.Join(errs...)
}

// journalBatch is the most marks taken at once.
const journalBatch = 20000

// Sync ships every change marked so far: it returns once they are in the
// log and, with a shipper, on the hosters.
func (w *Writer) Sync(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.sync(ctx)
	w.st.Synced = time.Now().UTC()
	w.st.Error = ""
	if err != nil {
		w.st.Error = err.Error()
	}
	if w.cur != nil {
		w.st.Gen, w.st.Length, w.st.Shipped, w.st.Bytes = w.cur.gen, w.cur.enc.Next(), w.cur.shipped, w.cur.stream
	}
	if n, lerr := w.cfg.Meta.JournalLen(ctx); lerr == nil {
		w.st.Pending = n
	}
	if werr := w.writeStatus(); err == nil {
		err = werr
	}
	return err
}

func (w *Writer) sync(ctx context.Context) error {
	if w.cur == nil {
		// A gateway that has stored nothing places no order yet.
		n, err := w.cfg.Meta.JournalLen(ctx)
		if err != nil {
			return err
		}
		if empty, err := w.cfg.Meta.Empty(ctx); err != nil || (empty && n == 0) {
			return err
		}
	}
	if w.cur == nil || w.cur.broken {
		if err := w.startGen(ctx); err != nil {
			return err
		}
	}
	gv := w.cur
	if err := w.ship(ctx, gv); err != nil {
		return err
	}
	if err := w.retire(ctx); err != nil {
		w.cfg.Log.Warn("metadata log: retiring older generations; retrying at the next sync", "err", err)
	}
	// shipped: the sequence of the last batch, which took every mark
	// left in the journal (the loop ends on a batch that is not full).
	var shipped uint64
	wrote := false
	for {
		jb, err := w.cfg.Meta.take(ctx, journalBatch, w.cfg.BatchBytes)
		if err != nil {
			return err
		}
		shipped = jb.Seq
		if len(jb.Changes) == 0 {
			break
		}
		var frame []local.Change
		size, total := 0, 0
		for _, c := range jb.Changes {
			frame = append(frame, c)
			size += c.Size()
			total += c.Size()
			if size >= frameTarget {
				if err := w.writeFrame(gv, &body{Kind: kindChanges, Changes: frame}); err != nil {
					return err
				}
				frame, size = nil, 0
			}
		}
		if len(frame) > 0 {
			if err := w.writeFrame(gv, &body{Kind: kindChanges, Changes: frame}); err != nil {
				return err
			}
		}
		wrote = true
		if err := w.flush(ctx, gv); err != nil {
			return err
		}
		if err := w.cfg.Meta.ClearJournal(ctx, jb); err != nil {
			return err
		}
		if len(jb.Changes) < journalBatch && total < w.cfg.BatchBytes {
			break
		}
	}
	// Every change marked up to the last batch's sequence is now shipped
	// (in this batch, an earlier one, or cleared by an earlier sync).
	w.cfg.Meta.setShipped(shipped)
	// Rotation for size counts the bytes written since the snapshot, not
	// the holes of short stripes, and only at a sync that wrote: a
	// snapshot larger than RotateBytes must first be outgrown, or every
	// sync would start a generation.
	if wrote && gv.stored()-gv.snapBytes > max(w.cfg.RotateBytes, gv.snapBytes) || w.dropDue(time.Now()) {
		return w.startGen(ctx)
	}
	return nil
}

// Status returns what the writer last did.
func (w *Writer) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

func (w *Writer) writeStatus() error {
	data, _ := json.MarshalIndent(w.st, "", "  ")
	tmp := filepath.Join(w.cfg.Dir, "status.json.tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("metalog: %w", err)
	}
	return os.Rename(tmp, filepath.Join(w.cfg.Dir, "status.json"))
}

// Run syncs every Interval until ctx ends, then once more.
func (w *Writer) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		if err := w.Sync(ctx); err != nil && ctx.Err() == nil {
			w.cfg.Log.Warn("metadata log: sync failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if err := w.Sync(fctx); err != nil {
				w.cfg.Log.Warn("metadata log: last sync failed; the journal keeps the changes for the next start", "err", err)
			}
			cancel()
			return
		case <-t.C:
		}
	}
}

func readUint(path string) (uint64, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("metalog: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("metalog: %s: %w", path, err)
	}
	return v, true, nil
}

// uintLine is v in decimal and a newline, the format of the generation files.
func uintLine(v uint64) []byte { return []byte(strconv.FormatUint(v, 10) + "\n") }
