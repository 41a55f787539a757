package hypercore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
)

// Storage errors.
var (
	ErrNoCore   = errors.New("hypercore: no core in storage")
	ErrExists   = errors.New("hypercore: core already exists")
	ErrNotFound = errors.New("hypercore: not found")
	ErrCorrupt  = errors.New("hypercore: storage is corrupt")
	ErrClosed   = errors.New("hypercore: closed")
)

// Header is a core's identity, written once when the core is made.
type Header struct {
	Key [32]byte
	// Manifest is the encoded manifest; for a compat core it is the
	// default manifest of the key (as JS keeps it) and Compat is set.
	Manifest []byte
	Compat   bool
}

// Head is a core's committed state.
type Head struct {
	Length     uint64
	ByteLength uint64
	Fork       uint64
	Signature  []byte // writer's signature over the tree at Length
}

// Commit is one atomic change: Blocks are appended at the old head's
// length (so Blocks[i] is block oldLength+i), Nodes are the new tree
// nodes, Head is the new head. After a crash a storage shows either all
// of a commit or none of it.
type Commit struct {
	Blocks [][]byte
	Nodes  []Node
	Head   Head
}

// Storage keeps one core. Reads may only ask for blocks below the head's
// length and for nodes whose blocks are all below it; implementations may
// serve anything for others. Methods may be called concurrently.
type Storage interface {
	// Init stores the header of a new core; ErrExists if there is one.
	Init(ctx context.Context, h Header) error
	// Load returns the header and head; ErrNoCore if Init never ran.
	Load(ctx context.Context) (Header, Head, error)
	// Node reads a tree node.
	Node(ctx context.Context, index uint64) (Node, error)
	// Block reads block index (not yet checked against the tree) into a
	// slice the caller owns.
	Block(ctx context.Context, index uint64) ([]byte, error)
	// Commit applies c atomically and durably. It must not keep c's
	// slices after it returns (callers reuse the block buffers).
	Commit(ctx context.Context, c *Commit) error
	// Close releases the storage.
	Close() error
}

// MemStorage keeps a core in memory, for tests and benchmarks.
type MemStorage struct {
	mu     sync.RWMutex
	init   bool
	header Header
	head   Head
	nodes  map[uint64]Node
	blocks [][]byte
	closed bool
}

// NewMemStorage returns an empty in-memory storage.
func NewMemStorage() *MemStorage {
	return &MemStorage{nodes: map[uint64]Node{}}
}

// Init implements Storage.
func (s *MemStorage) Init(_ context.Context, h Header) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.init {
		return ErrExists
	}
	s.init = true
	h.Manifest = append([]byte{}, h.Manifest...)
	s.header = h
	return nil
}

// Load implements Storage.
func (s *MemStorage) Load(context.Context) (Header, Head, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Header{}, Head{}, ErrClosed
	}
	if !s.init {
		return Header{}, Head{}, ErrNoCore
	}
	return s.header, s.head, nil
}

// Node implements Storage.
func (s *MemStorage) Node(_ context.Context, index uint64) (Node, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Node{}, ErrClosed
	}
	n, ok := s.nodes[index]
	if !ok {
		return Node{}, fmt.Errorf("%w: node %d", ErrNotFound, index)
	}
	return n, nil
}

// Block implements Storage; the block is a copy.
func (s *MemStorage) Block(_ context.Context, index uint64) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	if index >= uint64(len(s.blocks)) {
		return nil, fmt.Errorf("%w: block %d", ErrNotFound, index)
	}
	return bytes.Clone(s.blocks[index]), nil
}

// Commit implements Storage.
func (s *MemStorage) Commit(_ context.Context, c *Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.init {
		return ErrNoCore
	}
	if uint64(len(s.blocks))+uint64(len(c.Blocks)) != c.Head.Length {
		return fmt.Errorf("%w: commit of %d blocks at length %d to length %d", ErrCorrupt, len(c.Blocks), len(s.blocks), c.Head.Length)
	}
	for _, b := range c.Blocks {
		s.blocks = append(s.blocks, append([]byte(nil), b...))
	}
	for _, n := range c.Nodes {
		s.nodes[n.Index] = n
	}
	c.Head.Signature = append([]byte(nil), c.Head.Signature...)
	s.head = c.Head
	return nil
}

// Close implements Storage; later calls fail with ErrClosed.
func (s *MemStorage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
