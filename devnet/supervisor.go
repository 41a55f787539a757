package devnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is one supervised process of the devnet.
type child struct {
	name     string
	critical bool // the devnet cannot go on without it
	logPath  string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	err      error         // its exit status, valid after done
	stopping bool          // the supervisor asked it to stop
}

// supervisor starts child processes, reports the ones that die and stops
// them all. It never restarts a child: a process that dies is reported once
// and left for the person to look at (its log stays in logs/).
type supervisor struct {
	log    *slog.Logger
	logDir string

	mu       sync.Mutex
	children []*child
	exits    chan *child
}

func newSupervisor(log *slog.Logger, logDir string) *supervisor {
	return &supervisor{log: log, logDir: logDir, exits: make(chan *child, 64)}
}

// start runs bin with args, its output appended to logs/<name>.log. The
// child stays in the devnet's process group (killing the group kills the
// whole devnet) and gets SIGTERM if the supervisor itself dies.
func (s *supervisor) start(name string, critical bool, bin string, args ...string) (*child, error) {
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	logPath := filepath.Join(s.logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	fmt.Fprintf(f, "\n=== devnet: starting %s at %s: %s %s\n", name, time.Now().UTC().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("devnet: start %s: %w", name, err)
	}
	c := &child{name: name, critical: critical, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	s.mu.Lock()
	s.children = append(s.children, c)
	s.mu.Unlock()
	s.log.Info("started", "process", name, "pid", cmd.Process.Pid, "log", logPath)
	go func() {
		c.err = cmd.Wait()
		f.Close()
		close(c.done)
		s.mu.Lock()
		stopping := c.stopping
		s.mu.Unlock()
		if !stopping {
			s.exits <- c
		}
	}()
	return c, nil
}

// stopAll stops the children in the reverse order of their start: SIGTERM,
// then SIGKILL for any that has not exited within grace.
func (s *supervisor) stopAll(grace time.Duration) {
	s.mu.Lock()
	children := append([]*child(nil), s.children...)
	for _, c := range children {
		c.stopping = true
	}
	s.mu.Unlock()
	for i := len(children) - 1; i >= 0; i-- {
		c := children[i]
		select {
		case <-c.done:
			continue
		default:
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
			s.log.Info("stopped", "process", c.name)
		case <-time.After(grace):
			s.log.Warn("did not stop in time; killing", "process", c.name, "grace", grace)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

// tail returns the last n lines of a child's log, for reports.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// exitReason describes how a child ended.
func exitReason(c *child) string {
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if c.err == nil {
		return "exited"
	}
	return c.err.Error()
}

// waitUntil polls cond every interval until it returns true, ctx ends, a
// watched child exits, or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, watch *child, what string, cond func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		if cond(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				msg := fmt.Sprintf("devnet: %s: not ready after %s", what, timeout)
				if watch != nil {
					msg += "; last lines of " + watch.logPath + ":\n" + tail(watch.logPath, 20)
				}
				return errors.New(msg)
			}
			return ctx.Err()
		case <-watchDone(watch):
			return fmt.Errorf("devnet: %s: the process %s (%s); last lines of %s:\n%s", what, exitReason(watch), watch.name, watch.logPath, tail(watch.logPath, 20))
		case <-t.C:
		}
	}
}

func watchDone(c *child) <-chan struct{} {
	if c == nil {
		return nil
	}
	return c.done
}
