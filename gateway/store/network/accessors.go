package network

import "github.com/datdot/datdot/volume"

// Master returns the master secret the store derives volume keys from
// (the metadata log derives its own keys from it too).
func (b *Blobs) Master() []byte { return b.cfg.Master }

// Layout returns the erasure layout of new volumes.
func (b *Blobs) Layout() volume.Layout { return b.cfg.Layout }

// Shipper returns the shipper of the store's volumes (nil when they stay
// on this machine).
func (b *Blobs) Shipper() Shipper { return b.cfg.Shipper }
