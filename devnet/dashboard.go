package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/datdot/datdot/chain"
	"github.com/datdot/datdot/dashboard"
	"github.com/datdot/datdot/gateway/config"
)

// Endpoints is what /devnet.json tells the dashboard (and any script): where
// the chain's public APIs and the gateway are.
type Endpoints struct {
	ChainID string   `json:"chain_id"`
	Denom   string   `json:"denom"`
	RPC     string   `json:"rpc"`
	REST    string   `json:"rest"`
	GRPC    string   `json:"grpc"`
	Gateway string   `json:"gateway"`
	Bucket  string   `json:"bucket"`
	Hosters []string `json:"hosters"` // hoster API base URLs run by this devnet
	// Backend is the gateway's backend (network or local); GatewayAccount
	// is the account that owns (and pays for) its volumes' orders.
	Backend        string `json:"backend"`
	GatewayAccount string `json:"gateway_account"`
}

type dashServer struct {
	srv  *http.Server
	ln   net.Listener
	errc chan error
}

func (d *dashServer) Addr() string      { return d.ln.Addr().String() }
func (d *dashServer) Err() <-chan error { return d.errc }
func (d *dashServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.srv.Shutdown(ctx)
}

// dashboardHandler serves the dashboard's files, /devnet.json and
// /gateway/buckets (the local gateway's buckets, listed with the devnet's key
// so that the page never holds a secret).
func dashboardHandler(ep Endpoints, self string, c Config, k config.Key, log *slog.Logger) (http.Handler, error) {
	reg, assets, err := chain.Devnet(ep.RPC, ep.REST, ep.GRPC, self)
	if err != nil {
		return nil, err
	}
	reg.ChainID = ep.ChainID
	keplr, err := chain.Keplr(reg, assets)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", dashboard.Handler())
	// Wallets and explorers: chain-registry entries and Keplr's chain info
	// with this devnet's endpoints.
	mux.HandleFunc("GET /chain.json", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, reg) })
	mux.HandleFunc("GET /assetlist.json", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, assets) })
	mux.HandleFunc("GET /keplr.json", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, keplr) })
	mux.HandleFunc("GET /devnet.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, ep)
	})
	mux.HandleFunc("GET /gateway/buckets", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		b, err := listBuckets(ctx, c, k)
		if err != nil {
			log.Warn("dashboard: listing the gateway's buckets", "err", err)
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "gateway: " + err.Error()})
			return
		}
		if b == nil {
			b = []bucketInfo{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"buckets": b})
	})
	return mux, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// startDashboard serves the dashboard on ln (opened before the hosters
// pick their ports, so that none of them can take it).
func startDashboard(ln net.Listener, c Config, ep Endpoints, k config.Key, log *slog.Logger) (*dashServer, error) {
	h, err := dashboardHandler(ep, "http://"+ln.Addr().String(), c, k, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	d := &dashServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
		},
		ln:   ln,
		errc: make(chan error, 1),
	}
	go func() {
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.errc <- err
		}
	}()
	return d, nil
}
