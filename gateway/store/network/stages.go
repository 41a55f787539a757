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
// debug level every stageEvery. With debug off nothing is recorded.
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

var stageNames = [numStages]string{"append", "durable", "records", "commit", "gather", "flush", "push", "ack", "hold"}

const stageEvery = 5 * time.Second

type stages struct {
	log     *slog.Logger
	mu      sync.Mutex
	since   time.Time
	samples [numStages][]time.Duration
	stripes uint64 // stripes flushed in the window
	blobs   int64  // blob bytes committed in the window
}

// newStages returns a recorder, or nil when log does not log debug.
func newStages(log *slog.Logger) *stages {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return nil
	}
	return &stages{log: log, since: time.Now()}
}

// add records that stage took d. A nil recorder records nothing.
func (s *stages) add(stage stageName, d time.Duration) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.samples[stage] = append(s.samples[stage], d)
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

// committed counts a committed blob's bytes.
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
	if time.Since(s.since) < stageEvery {
		s.mu.Unlock()
		return
	}
	all := s.samples
	s.samples = [numStages][]time.Duration{}
	stripes, blobs := s.stripes, s.blobs
	s.stripes, s.blobs = 0, 0
	window := time.Since(s.since)
	s.since = time.Now()
	s.mu.Unlock()
	attrs := []any{"window", window.Round(time.Millisecond), "stripes", stripes, "blob_bytes", blobs}
	for st, ds := range all {
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		attrs = append(attrs, slog.Group(stageNames[st], "n", len(ds), "mean_ms", ms(sum/time.Duration(len(ds))),
			"p50_ms", ms(ds[len(ds)/2]), "p99_ms", ms(ds[len(ds)*99/100]), "max_ms", ms(ds[len(ds)-1])))
	}
	s.log.Debug("network put stages", attrs...)
}
