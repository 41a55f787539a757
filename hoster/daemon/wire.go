package daemon

import (
	"context"
	"log/slog"
	"net"
	"sync"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/replicate"
	"github.com/datdot/datdot/hypercore/secretstream"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// wireServer serves every core the hoster holds over the Hypercore
// replication protocol: the follower tells it (as a follower.Watcher)
// which cores are held and how long they are; a core that grew is
// announced to the peers reading it.
type wireServer struct {
	srv *replicate.Server
	dir *replicate.Directory

	mu      sync.Mutex
	lengths map[[32]byte]uint64
}

func newWireServer(ctx context.Context, st *store.Store, log *slog.Logger) *wireServer {
	w := &wireServer{lengths: map[[32]byte]uint64{}}
	w.dir = replicate.NewDirectory(func(key [32]byte) (*hypercore.Core, bool) {
		c, err := st.Core(ctx, key)
		return c, err == nil
	})
	w.srv = replicate.NewServer(w.dir.Lookup, secretstream.Config{}, log)
	// Serve what is held at once, before the follower's first pass.
	if as, err := st.Assignments(); err == nil {
		for _, a := range as {
			if n := st.Held(ctx, a.Key); n > 0 {
				w.Held(a.Key, n)
			}
		}
	}
	return w
}

// Held implements follower.Watcher.
func (w *wireServer) Held(key [32]byte, length uint64) {
	w.mu.Lock()
	old, had := w.lengths[key]
	if !had {
		w.dir.Add(key)
	}
	if length > old {
		w.lengths[key] = length
	}
	w.mu.Unlock()
	if had && length > old {
		w.srv.Announce(hypercore.DiscoveryKey(key[:]))
	}
}

// Dropped implements follower.Watcher.
func (w *wireServer) Dropped(key [32]byte) {
	w.mu.Lock()
	delete(w.lengths, key)
	w.mu.Unlock()
	w.dir.Remove(key)
}

// replicationAddress is the address to announce on chain: the configured
// one, else the listener's if it names a host (not 0.0.0.0 or ::).
func replicationAddress(configured string, ln net.Listener) string {
	if configured != "" {
		return configured
	}
	if ln == nil {
		return ""
	}
	a, ok := ln.Addr().(*net.TCPAddr)
	if !ok || a.IP.IsUnspecified() {
		return ""
	}
	return a.String()
}

// announceReplication makes the hoster's on-chain record carry addr
// (MsgUpdateHoster when it differs); a hoster not registered yet is left
// alone (`datdot hoster register` sends the address).
func announceReplication(ctx context.Context, chain *chainclient.Client, addr string, log *slog.Logger) {
	if addr == "" {
		return
	}
	h, err := chain.Storage().Hoster(ctx, &storagetypes.QueryHosterRequest{Address: chain.Address()})
	if err != nil {
		log.Info("replication address not announced: hoster not registered yet", "address", addr, "err", err)
		return
	}
	if h.Hoster.ReplicationAddress == addr {
		return
	}
	res, err := chain.SendAndWait(ctx, &storagetypes.MsgUpdateHoster{Hoster: chain.Address(), ReplicationAddress: addr})
	if err != nil {
		log.Warn("announce replication address", "address", addr, "err", err)
		return
	}
	log.Info("replication address announced on chain", "address", addr, "height", res.Height)
}
