// Package server is the hoster's HTTP API v1 (hoster/README.md): reads of
// blocks, ranges, proofs and core info for anyone, and pushes of blocks by
// a core's writer, checked against the writer's signature and stored
// durably before the answer.
package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/datdot/datdot/bufpool"
	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/hypercore"
)

// Config configures a Server.
type Config struct {
	Store   *store.Store
	Limits  store.Limits
	Log     *slog.Logger
	Metrics *Metrics
	// Gatherer serves /metrics (nil: no metrics endpoint).
	Gatherer prometheus.Gatherer
	// Refresh, if set, is called when a push names a core no assignment
	// names, before refusing it: the daemon re-reads its assignments from
	// the chain (an order placed a moment ago). It should rate-limit.
	Refresh func(ctx context.Context) error
	// Damaged, if set, is told about a block that failed its check on read
	// (the daemon schedules a repair).
	Damaged func(key [32]byte, index uint64)
	// Pushed, if set, is told after a push was stored that core key is
	// now held up to length (the daemon's follower looks at that core's
	// slots: a commit may be due). It must not block.
	Pushed func(key [32]byte, length uint64)
}

// Server serves the API.
type Server struct {
	cfg Config
	mux *http.ServeMux
	// pushes bounds the pushes read and stored at once (each holds its
	// body, up to wire.MaxPushBytes, in memory).
	pushes chan struct{}
	// bodies keeps push body buffers for reuse (at most one per push
	// turn, none larger than keepBody): a push's blocks are not kept once
	// it is stored, and reusing the buffers spares the garbage collector
	// a fresh megabytes-large buffer per push.
	bodies chan []byte
	// answers keeps the buffers of range answers for reuse: a range is
	// read straight into one, so serving it allocates nothing large.
	answers bufpool.Pool
}

// keepBody is the largest push body buffer kept for reuse.
const keepBody = 16 << 20

// MaxConcurrentPushes is how many pushes a server handles at once; more
// wait for a turn (or for their request to be cancelled).
const MaxConcurrentPushes = 4

// New returns the API handler.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), pushes: make(chan struct{}, MaxConcurrentPushes), bodies: make(chan []byte, MaxConcurrentPushes)}
	s.handle("GET /v1/health", "health", s.health)
	s.handle("GET /v1/cores/{key}", "info", s.info)
	s.handle("GET /v1/cores/{key}/blocks/{index}", "block", s.block)
	s.handle("GET /v1/cores/{key}/blocks", "blocks", s.blocks)
	s.handle("GET /v1/cores/{key}/proof/{index}", "proof", s.proof)
	s.handle("POST /v1/cores/{key}/blocks", "push", s.push)
	if cfg.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	msg    string
	length *uint64
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// ReadFrom lets io.Copy reach the ResponseWriter's own ReadFrom (net/http
// sends a file with sendfile).
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(w.ResponseWriter, r)
}

func (s *Server) handle(pattern, route string, h func(w http.ResponseWriter, r *http.Request) error) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		if err := h(sw, r); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = s.classify(err)
			}
			if ae.status >= 500 {
				s.cfg.Log.Warn("request failed", "route", route, "path", r.URL.Path, "status", ae.status, "err", err)
			}
			sw.code = ae.status
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(ae.status)
			json.NewEncoder(w).Encode(struct {
				Error  string  `json:"error"`
				Length *uint64 `json:"length,omitempty"`
			}{ae.msg, ae.length})
		}
		s.cfg.Metrics.Requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
	})
}

// classify maps errors of the store and the core to HTTP statuses.
func (s *Server) classify(err error) *apiError {
	switch {
	case errors.Is(err, store.ErrUnknownCore), errors.Is(err, hypercore.ErrNotFound):
		return errorf(http.StatusNotFound, "%v", err)
	case errors.Is(err, hypercore.ErrBadRequest):
		return errorf(http.StatusNotFound, "%v", err)
	case errors.Is(err, hypercore.ErrCorrupt):
		return errorf(http.StatusServiceUnavailable, "stored data failed its check and is being repaired: %v", err)
	case errors.Is(err, hypercore.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, "%v", err)
	case errors.Is(err, store.ErrFull):
		return errorf(http.StatusInsufficientStorage, "%v", err)
	}
	return errorf(http.StatusInternalServerError, "%v", err)
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// ParseKey parses a core key in lowercase hex.
func ParseKey(s string) ([32]byte, error) {
	var k [32]byte
	if len(s) != 64 {
		return k, errorf(http.StatusBadRequest, "core key %q: want 64 lowercase hex digits", s)
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return k, errorf(http.StatusBadRequest, "core key %q: want 64 lowercase hex digits", s)
		}
	}
	_, err := hex.Decode(k[:], []byte(s))
	return k, err
}

func parseUint(name, s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "%s %q: want a decimal integer", name, s)
	}
	return v, nil
}

func (s *Server) core(r *http.Request) ([32]byte, *hypercore.Core, error) {
	key, err := ParseKey(r.PathValue("key"))
	if err != nil {
		return key, nil, err
	}
	c, err := s.cfg.Store.Core(r.Context(), key)
	return key, c, err
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	free, _ := s.cfg.Store.FreeDisk()
	return writeJSON(w, map[string]any{"ok": true, "used_bytes": s.cfg.Store.Used(), "capacity_bytes": s.cfg.Limits.Capacity, "free_disk_bytes": free})
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	_, c, err := s.core(r)
	if err != nil {
		return err
	}
	i := c.Info()
	out := client.Info{Key: i.Key[:], Length: i.Length, ByteLength: i.ByteLength, Fork: i.Fork, TreeHash: i.TreeHash[:], Signature: i.Signature}
	if !i.Compat {
		out.Manifest = i.Manifest
	}
	return writeJSON(w, out)
}

// get reads a block checked against the tree; damage is reported.
func (s *Server) get(ctx context.Context, key [32]byte, c *hypercore.Core, index uint64) ([]byte, error) {
	b, err := c.Get(ctx, index)
	if errors.Is(err, hypercore.ErrCorrupt) {
		s.damaged(key, index, err)
	}
	return b, err
}

func (s *Server) damaged(key [32]byte, index uint64, err error) {
	s.cfg.Log.Error("damaged block", "core", hex.EncodeToString(key[:]), "index", index, "err", err)
	s.cfg.Metrics.DamagedBlocks.Inc()
	if err := s.cfg.Store.MarkDamaged(key, index); err != nil {
		s.cfg.Log.Error("record damaged block", "err", err)
	}
	if s.cfg.Damaged != nil {
		s.cfg.Damaged(key, index)
	}
}

func (s *Server) block(w http.ResponseWriter, r *http.Request) error {
	key, c, err := s.core(r)
	if err != nil {
		return err
	}
	index, err := parseUint("index", r.PathValue("index"))
	if err != nil {
		return err
	}
	b, err := s.get(r.Context(), key, c, index)
	if err != nil {
		return err
	}
	s.cfg.Metrics.BlocksServed.Inc()
	s.cfg.Metrics.BytesServed.Add(float64(len(b)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, err = w.Write(b)
	return ignoreWrite(err)
}

// ignoreWrite drops errors of writing a started answer (the client left):
// the status is already sent.
func ignoreWrite(error) error { return nil }

func (s *Server) blocks(w http.ResponseWriter, r *http.Request) error {
	key, c, err := s.core(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	start, err := parseUint("start", q.Get("start"))
	if err != nil {
		return err
	}
	length := c.Length()
	end := length
	if e := q.Get("end"); e != "" {
		if end, err = parseUint("end", e); err != nil {
			return err
		}
	}
	if start >= end {
		return errorf(http.StatusBadRequest, "empty range [%d,%d)", start, end)
	}
	if end > length {
		return errorf(http.StatusNotFound, "range [%d,%d) beyond the %d blocks held", start, end, length)
	}
	// unchecked=1: the blocks as stored, not checked against their tree
	// nodes (no hash per block): for a client that authenticates what it
	// reads itself (the gateway's AEAD tags) and asks for proofs when
	// that fails. They are read straight into their place in the answer,
	// a buffer kept for the next range. Blocks already recorded damaged
	// (by a checked read, a proof or the scrubber) are still refused:
	// the answer stops before the first one, and a range that starts at
	// one is a 503, as a checked read of it is. That costs a lookup in
	// memory, no hash.
	if q.Get("unchecked") == "1" {
		end = min(end, start+wire.MaxListBlocks)
		if d, ok := s.cfg.Store.FirstDamaged(key, start, end); ok {
			if d == start {
				return errorf(http.StatusServiceUnavailable, "block %d failed its check against the tree and is being repaired", d)
			}
			end = d
		}
		if q.Get("form") == "run" {
			return s.blockRun(w, r, c, start, end)
		}
		return s.blocksUnchecked(w, r, c, start, end)
	}
	l := &wire.BlockList{Start: start}
	total := 0
	for i := start; i < end && len(l.Blocks) < wire.MaxListBlocks; i++ {
		b, err := s.get(r.Context(), key, c, i)
		if err != nil {
			return err
		}
		if len(l.Blocks) > 0 && total+len(b) > wire.MaxListBytes {
			break
		}
		l.Blocks = append(l.Blocks, b)
		total += len(b)
	}
	body, err := wire.EncodeBlockList(l)
	if err != nil {
		return err
	}
	s.cfg.Metrics.BlocksServed.Add(float64(len(l.Blocks)))
	s.cfg.Metrics.BytesServed.Add(float64(total))
	w.Header().Set("Content-Type", wire.ListContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, err = w.Write(body)
	return ignoreWrite(err)
}

func (s *Server) blocksUnchecked(w http.ResponseWriter, r *http.Request, c *hypercore.Core, start, end uint64) error {
	var body []byte
	var buf *[]byte
	defer func() {
		if buf != nil {
			s.answers.Put(buf)
		}
	}()
	total := 0
	n, err := c.GetRangeUnchecked(r.Context(), start, end, wire.MaxListBytes, func(sizes []int) ([][]byte, error) {
		buf = s.answers.Get(wire.BlockListSize(start, sizes))
		var places [][]byte
		var err error
		body, places, err = wire.LayBlockList(*buf, start, sizes)
		for _, sz := range sizes {
			total += sz
		}
		return places, err
	})
	if err != nil {
		return err
	}
	s.cfg.Metrics.BlocksServed.Add(float64(n))
	s.cfg.Metrics.BytesServed.Add(float64(total))
	w.Header().Set("Content-Type", wire.ListContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, err = w.Write(body)
	return ignoreWrite(err)
}

// blockRun answers an unchecked range as a block run (wire): the head,
// then the blocks' bytes sent straight from the core's data file (sendfile
// on a plain TCP connection: they are never copied into the hoster's
// memory). A core without a data file answers with a block list, as a
// hoster that does not know the form does.
func (s *Server) blockRun(w http.ResponseWriter, r *http.Request, c *hypercore.Core, start, end uint64) error {
	f, sizes, err := c.OpenRangeUnchecked(r.Context(), start, end, wire.MaxListBytes)
	if errors.Is(err, hypercore.ErrNoBlockFile) {
		return s.blocksUnchecked(w, r, c, start, end)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	head, err := wire.AppendBlockRunHead(make([]byte, 0, 32+len(sizes)*3), start, sizes)
	if err != nil {
		return err
	}
	total := int64(0)
	for _, sz := range sizes {
		total += int64(sz)
	}
	s.cfg.Metrics.BlocksServed.Add(float64(len(sizes)))
	s.cfg.Metrics.BytesServed.Add(float64(total))
	w.Header().Set("Content-Type", wire.RunContentType)
	w.Header().Set("Content-Length", strconv.FormatInt(int64(len(head))+total, 10))
	if _, err := w.Write(head); err != nil {
		return ignoreWrite(err)
	}
	n, err := io.Copy(w, io.LimitReader(f.File, total))
	if err == nil && n < total {
		// The file ended early (it was cut under us): the answer is
		// short of its Content-Length, so the connection is dropped and
		// the client sees a truncated body, never a complete one.
		key := c.Key()
		s.cfg.Log.Error("block run cut short", "core", hex.EncodeToString(key[:]), "start", start, "sent", n, "want", total)
		panic(http.ErrAbortHandler)
	}
	return ignoreWrite(err)
}

func (s *Server) proof(w http.ResponseWriter, r *http.Request) error {
	key, c, err := s.core(r)
	if err != nil {
		return err
	}
	index, err := parseUint("index", r.PathValue("index"))
	if err != nil {
		return err
	}
	var p *hypercore.Proof
	if l := r.URL.Query().Get("length"); l != "" {
		length, perr := parseUint("length", l)
		if perr != nil {
			return perr
		}
		if index >= length {
			return errorf(http.StatusBadRequest, "block %d is not below length %d", index, length)
		}
		p, err = c.BlockProofAt(r.Context(), index, length)
	} else {
		if index >= c.Length() {
			return errorf(http.StatusNotFound, "block %d: the hoster holds %d blocks", index, c.Length())
		}
		p, err = c.BlockProof(r.Context(), index)
	}
	if errors.Is(err, hypercore.ErrCorrupt) {
		s.damaged(key, index, err)
	}
	if err != nil {
		return err
	}
	body := p.Encode()
	s.cfg.Metrics.BlocksServed.Inc()
	s.cfg.Metrics.BytesServed.Add(float64(len(p.Block.Value)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, err = w.Write(body)
	return ignoreWrite(err)
}

func (s *Server) push(w http.ResponseWriter, r *http.Request) error {
	key, err := ParseKey(r.PathValue("key"))
	if err != nil {
		s.cfg.Metrics.PushRefused.WithLabelValues("malformed").Inc()
		return err
	}
	if r.ContentLength > wire.MaxPushBytes {
		s.cfg.Metrics.PushRefused.WithLabelValues("too_large").Inc()
		return errorf(http.StatusRequestEntityTooLarge, "push of %d bytes, at most %d", r.ContentLength, wire.MaxPushBytes)
	}
	ok, err := s.cfg.Store.Assigned(key)
	if err != nil {
		return err
	}
	if !ok && s.cfg.Refresh != nil {
		if err := s.cfg.Refresh(r.Context()); err != nil {
			s.cfg.Log.Warn("refresh assignments", "err", err)
		}
		if ok, err = s.cfg.Store.Assigned(key); err != nil {
			return err
		}
	}
	if !ok {
		s.cfg.Metrics.PushRefused.WithLabelValues("not_assigned").Inc()
		return errorf(http.StatusForbidden, "core %x is not assigned to this hoster", key)
	}
	select {
	case s.pushes <- struct{}{}:
		defer func() { <-s.pushes }()
	case <-r.Context().Done():
		return errorf(http.StatusServiceUnavailable, "push cancelled while waiting for a turn")
	}
	body, err := s.readBody(w, r)
	defer s.releaseBody(body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		s.cfg.Metrics.PushRefused.WithLabelValues("too_large").Inc()
		return errorf(http.StatusRequestEntityTooLarge, "push larger than %d bytes", wire.MaxPushBytes)
	}
	if err != nil {
		s.cfg.Metrics.PushRefused.WithLabelValues("truncated").Inc()
		return errorf(http.StatusBadRequest, "reading push: %v", err)
	}
	p, err := wire.DecodePush(body)
	if err != nil {
		s.cfg.Metrics.PushRefused.WithLabelValues("malformed").Inc()
		return errorf(http.StatusBadRequest, "%v", err)
	}
	t0 := time.Now()
	before := s.cfg.Store.Used()
	length, err := s.cfg.Store.Append(r.Context(), key, p, s.cfg.Limits)
	switch {
	case err == nil:
	case errors.Is(err, hypercore.ErrBadSignature), errors.Is(err, hypercore.ErrKeyMismatch), errors.Is(err, hypercore.ErrBadKey):
		s.cfg.Metrics.PushRefused.WithLabelValues("bad_signature").Inc()
		return errorf(http.StatusForbidden, "blocks %d..%d do not verify against the writer's signature: %v", p.Start, p.Start+uint64(len(p.Blocks)), err)
	case errors.Is(err, store.ErrNotAssigned):
		s.cfg.Metrics.PushRefused.WithLabelValues("not_assigned").Inc()
		return errorf(http.StatusForbidden, "%v", err)
	case errors.Is(err, store.ErrGap), errors.Is(err, store.ErrConflict):
		s.cfg.Metrics.PushRefused.WithLabelValues("conflict").Inc()
		return &apiError{status: http.StatusConflict, msg: err.Error(), length: &length}
	case errors.Is(err, store.ErrFull):
		s.cfg.Metrics.PushRefused.WithLabelValues("full").Inc()
		return err
	default:
		return err
	}
	if added := s.cfg.Store.Used() - before; added > 0 {
		s.cfg.Metrics.BytesStored.Add(float64(added))
	}
	s.cfg.Metrics.BlocksStored.Add(float64(len(p.Blocks)))
	s.cfg.Log.Debug("push stored", "core", hex.EncodeToString(key[:]), "start", p.Start, "blocks", len(p.Blocks), "length", length, "took", time.Since(t0))
	if s.cfg.Pushed != nil {
		s.cfg.Pushed(key, length)
	}
	return writeJSON(w, client.PushResult{Length: length})
}

// readBody reads a push body (at most wire.MaxPushBytes) into a buffer
// from s.bodies when the size is announced; give it back with
// releaseBody once nothing refers to it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, wire.MaxPushBytes)
	if r.ContentLength <= 0 {
		return io.ReadAll(body)
	}
	n := int(r.ContentLength) // at most MaxPushBytes, checked by the caller
	var buf []byte
	// Take a kept buffer large enough (looking at each at most once).
	for range cap(s.bodies) {
		var b []byte
		select {
		case b = <-s.bodies:
		default:
		}
		if cap(b) >= n || b == nil {
			buf = b
			break
		}
		s.releaseBody(b)
	}
	if cap(buf) < n {
		// A power of two, so that the buffer also fits the pushes a
		// little larger that usually follow.
		buf = make([]byte, n, min(max(1<<bits.Len(uint(n-1)), 64<<10), wire.MaxPushBytes))
	}
	buf = buf[:n]
	if _, err := io.ReadFull(body, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return buf, err
	}
	return buf, nil
}

// releaseBody keeps buf for a later push if there is room.
func (s *Server) releaseBody(buf []byte) {
	if cap(buf) == 0 || cap(buf) > keepBody {
		return
	}
	select {
	case s.bodies <- buf[:0]:
	default:
	}
}
