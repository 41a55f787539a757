package replicate

import (
	"sync"

	"github.com/datdot/datdot/hypercore"
)

// Directory maps discovery keys to the keys of the cores a server may
// serve, for owners that keep cores by key (a hoster's store): Add a key
// when the core is held, Remove it when it is dropped, and give Lookup to
// NewServer. Opening is left to open, called for each channel a peer opens
// for a held key. Safe for concurrent use.
type Directory struct {
	open func(key [32]byte) (*hypercore.Core, bool)

	mu   sync.RWMutex
	keys map[[32]byte][32]byte // discovery key → key
}

// NewDirectory makes an empty directory whose cores open opens.
func NewDirectory(open func(key [32]byte) (*hypercore.Core, bool)) *Directory {
	return &Directory{open: open, keys: map[[32]byte][32]byte{}}
}

// Add makes the core key servable.
func (d *Directory) Add(key [32]byte) {
	dk := hypercore.DiscoveryKey(key[:])
	d.mu.Lock()
	d.keys[dk] = key
	d.mu.Unlock()
}

// Remove stops serving the core key to new channels.
func (d *Directory) Remove(key [32]byte) {
	dk := hypercore.DiscoveryKey(key[:])
	d.mu.Lock()
	delete(d.keys, dk)
	d.mu.Unlock()
}

// Lookup is a Lookup over the added keys.
func (d *Directory) Lookup(dk [32]byte) (*hypercore.Core, bool) {
	d.mu.RLock()
	key, ok := d.keys[dk]
	d.mu.RUnlock()
	if !ok {
		return nil, false
	}
	c, ok := d.open(key)
	if !ok || c == nil || c.Key() != key {
		return nil, false
	}
	return c, true
}
