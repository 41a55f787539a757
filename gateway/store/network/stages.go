package network

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// The write path's stage timings: with the store's logger at debug level,
// every blob commit and every group commit records how long each of its
// steps took, and a summary (count, p50, p99, max per stage) is logged at
// debug level stageEvery after the first sample of a window. With debug
// off nothing is recorded.
//
// Stages of a blob commit (writer.Commit):
//
//	append   the blob into the open volume's stream (encoder, RS)
//	durable  waiting for the group commit that makes it durable
//	records  the usage record and the journal's pending record, which
//	         run concurrently (in two commits) beside durable, so one
//	         duration covers both; usage records in a file of their own
//	         only (fresh blobs have neither: their metadata commit
//	         records them)
//	commit   the whole Commit
//
// Stages of a group commit (flushCores) and of the pushes:
//
//	gather   first waiting blob to the flush's start (FlushDelay, or
//	         waiting for busy pushes)
//	hold     of gather, the wait of a ready flush for blobs still being
//	         written (Config.FlushWait; only flushes that waited)
//	flush    padding, coding, signing and appending to the local cores
//	push     one PushCore call (per core)
//	ack      a flush's append to AckCores cores holding it
//
// Stages of a read from the hosters (reader; only reads without a block
// cache hit, logged as "network get stages"):
//
//	open     Blobs.Open: resolving the blob and its first window, until
//	         the first bytes are ready (the time to first byte a GET
//	         adds before its status line)
//	read     one window read from the hosters (Remote.read: k answers
//	         in, or decoded around the missing)
//	wait     a reader waiting for a window it asked ahead, or reading
//	         one it did not (not counting the first, in open)
//	get      a whole read, Open to Close
type stageName int

const (
	stAppend stageName = iota
	stDurable
	stRecords
	stCommit
	stGather
	stFlush
	stPush
	stAck
	stHold
	numStages
)

var stageNames = []string{"append", "durable", "records", "commit", "gather", "flush", "push", "ack", "hold"}

const (
	gsOpen stageName = iota
	gsRead
	gsWait
	gsGet
	numGetStages
)

var getStageNames = []string{"open", "read", "wait", "get"}

const stageEvery = 5 * time.Second

type stages struct {
	log     *slog.Logger
	title   string
	names   []string
	mu      sync.Mutex
	since   time.Time
	samples [][]time.Duration
	stripes uint64 // stripes flushed in the window
	blobs   int64  // blob bytes committed (or read) in the window
	// timer logs the window's samples every after its first one, so
	// that a burst is summed up even if nothing follows it.
	timer *time.Timer
	every time.Duration // stageEvery
}

// newStages returns the recorder of the write path, or nil when log does
// not log debug.
func newStages(log *slog.Logger) *stages {
	return newRecorder(log, "network put stages", stageNames)
}

// newGetStages returns the recorder of the read path, or nil when log
// does not log debug.
func newGetStages(log *slog.Logger) *stages {
	return newRecorder(log, "network get stages", getStageNames)
}

func newRecorder(log *slog.Logger, title string, names []string) *stages {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return nil
	}
	return &stages{log: log, title: title, names: names, since: time.Now(), samples: make([][]time.Duration, len(names)), every: stageEvery}
}

// add records that stage took d. A nil recorder records nothing.
func (s *stages) add(stage stageName, d time.Duration) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.samples[stage] = append(s.samples[stage], d)
	if s.timer == nil {
		s.timer = time.AfterFunc(s.every, s.flush)
	}
	s.mu.Unlock()
	s.maybeLog()
}

// flushed counts the stripes a flush appended.
func (s *stages) flushed(stripes uint64) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.stripes += stripes
	s.mu.Unlock()
}

// committed counts a committed (or read) blob's bytes.
func (s *stages) committed(n int64) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.blobs += n
	s.mu.Unlock()
}

func (s *stages) maybeLog() {
	s.mu.Lock()
	due := time.Since(s.since) >= s.every
	s.mu.Unlock()
	if due {
		s.flush()
	}
}

// flush logs the samples recorded since the last summary, if any.
func (s *stages) flush() {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !slices.ContainsFunc(s.samples, func(ds []time.Duration) bool { return len(ds) > 0 }) {
		// Nothing to log (the timer and a due sample both flushed): the
		// counts wait for the next summary.
		s.mu.Unlock()
		return
	}
	all := s.samples
	s.samples = make([][]time.Duration, len(s.names))
	stripes, blobs := s.stripes, s.blobs
	s.stripes, s.blobs = 0, 0
	window := time.Since(s.since)
	s.since = time.Now()
	s.mu.Unlock()
	attrs := []any{"window", window.Round(time.Millisecond), "stripes", stripes, "blob_bytes", blobs}
	some := false
	for st, ds := range all {
		if len(ds) == 0 {
			continue
		}
		some = true
		slices.Sort(ds)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		attrs = append(attrs, slog.Group(s.names[st], "n", len(ds), "mean_ms", ms(sum/time.Duration(len(ds))),
			"p50_ms", ms(ds[len(ds)/2]), "p99_ms", ms(ds[len(ds)*99/100]), "max_ms", ms(ds[len(ds)-1])))
	}
	if some {
		s.log.Debug(s.title, attrs...)
	}
}
