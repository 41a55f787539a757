// Package boltgroup commits concurrent bbolt updates together, without
// bbolt Batch's wait for company.
package boltgroup

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Group runs transaction functions in shared commits (one fsync for
// many writes) without ever waiting for company: a call that finds no
// commit running commits at once, alone; calls that arrive while a commit
// runs are collected and go together in the next one. One writer therefore
// pays one commit, not a batching delay (bbolt's Batch waits up to 10 ms
// for others), and many writers share commits as they queue up behind the
// running one. Every call returns only after the commit that holds its
// changes is durable.
//
// As with bbolt's Batch, a function may run more than once (when another
// function of its group fails, the group is retried without it), so it
// must reset its outputs; a function that fails is run again alone, and
// that run's error is its result.
type Group struct {
	db *bolt.DB

	mu      sync.Mutex
	pending []*call
	leading bool
}

type call struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// maxGroup caps the functions of one commit.
const maxGroup = 1000

// New returns a Group that commits to db.
func New(db *bolt.DB) *Group { return &Group{db: db} }

// Run runs fn in a commit shared with the calls that queue up meanwhile
// and returns once that commit is durable (or failed: fn's error, or the
// commit's).
func (g *Group) Run(fn func(*bolt.Tx) error) error {
	c := &call{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if !g.leading {
		g.leading = true
		g.mu.Unlock()
		g.lead()
	} else {
		g.mu.Unlock()
	}
	return <-c.done
}

// lead commits one group of the pending calls; if more arrived meanwhile,
// a new leader goroutine takes them, so the caller is not held up by
// others' commits.
func (g *Group) lead() {
	g.mu.Lock()
	n := min(len(g.pending), maxGroup)
	calls := g.pending[:n:n]
	g.pending = g.pending[n:]
	g.mu.Unlock()

	g.commit(calls)

	g.mu.Lock()
	if len(g.pending) == 0 {
		g.leading = false
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	go g.lead()
}

// errCallFailed marks which call of a group failed.
type errCallFailed struct {
	i   int
	err error
}

func (e *errCallFailed) Error() string { return fmt.Sprintf("call %d: %v", e.i, e.err) }

// commit runs calls in one transaction; a call that fails is taken out and
// run alone, and the rest are retried together.
func (g *Group) commit(calls []*call) {
	for len(calls) > 0 {
		err := g.db.Update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := safeCall(c.fn, tx); err != nil {
					return &errCallFailed{i: i, err: err}
				}
			}
			return nil
		})
		var failed *errCallFailed
		if !errors.As(err, &failed) {
			for _, c := range calls {
				c.done <- err
			}
			return
		}
		bad := calls[failed.i]
		if len(calls) == 1 {
			bad.done <- failed.err
			return
		}
		bad.done <- g.db.Update(func(tx *bolt.Tx) error { return safeCall(bad.fn, tx) })
		calls = append(calls[:failed.i:failed.i], calls[failed.i+1:]...)
	}
}

// safeCall runs fn, turning a panic into an error so that one bad call
// cannot take the others of its group down.
func safeCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("boltgroup: panic in transaction: %v", p)
		}
	}()
	return fn(tx)
}
