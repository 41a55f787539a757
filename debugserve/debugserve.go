// Package debugserve serves the Go profiler (net/http/pprof) for
// performance work, on loopback addresses only: the gateway's and the
// hoster's --debug.pprof.
package debugserve

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"time"
)

// CheckLoopback returns an error unless addr is a host:port whose host is
// localhost or a loopback IP.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want a loopback host:port (the profiler must not be exposed): %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: want a loopback host:port (the profiler must not be exposed)", addr)
	}
	return nil
}

// Pprof serves the profiler on addr (checked by CheckLoopback) until stop
// is called; bound is the address it listens on.
func Pprof(addr string, log *slog.Logger) (bound string, stop func(), err error) {
	if err := CheckLoopback(addr); err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("debug.pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Warn("serving the Go profiler", "addr", ln.Addr().String())
	return ln.Addr().String(), func() { srv.Close() }, nil
}
