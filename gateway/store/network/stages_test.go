package network

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestGetStagesSummary: with debug logging, the read stages recorded in
// a burst are summed up in one "network get stages" line once the window
// has passed, with nothing recorded after the burst; without debug
// nothing is recorded.
func TestGetStagesSummary(t *testing.T) {
	if newGetStages(slog.New(slog.NewTextHandler(&syncBuffer{}, &slog.HandlerOptions{Level: slog.LevelInfo}))) != nil {
		t.Fatal("a recorder without debug logging")
	}
	var buf syncBuffer
	st := newGetStages(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	st.every = 50 * time.Millisecond
	st.add(gsOpen, 3*time.Millisecond)
	st.add(gsRead, 2*time.Millisecond)
	st.add(gsRead, 4*time.Millisecond)
	st.add(gsGet, 9*time.Millisecond)
	st.committed(1 << 20)
	waitFor(t, "the summary", func() bool { return strings.Contains(buf.String(), "network get stages") })
	line := buf.String()
	for _, want := range []string{"open.n=1", "read.n=2", "read.max_ms=4", "get.p50_ms=9", "blob_bytes=1048576"} {
		if !strings.Contains(line, want) {
			t.Errorf("summary %q lacks %s", line, want)
		}
	}
	if strings.Contains(line, "wait.") {
		t.Errorf("summary %q has a stage with no sample", line)
	}
	if n := strings.Count(line, "network get stages"); n != 1 {
		t.Errorf("%d summaries of one burst", n)
	}
}
