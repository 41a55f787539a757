package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the hoster's Prometheus metrics. One set per daemon,
// registered on a registry the caller owns (no global state).
type Metrics struct {
	Requests       *prometheus.CounterVec // by route and status code
	BlocksServed   prometheus.Counter
	BytesServed    prometheus.Counter
	BlocksStored   prometheus.Counter
	BytesStored    prometheus.Counter
	PushRefused    *prometheus.CounterVec // by reason
	DamagedBlocks  prometheus.Counter     // found by reads or the scrubber
	RepairedCores  prometheus.Counter
	ScrubbedBlocks prometheus.Counter
	UsedBytes      prometheus.Gauge
	CapacityBytes  prometheus.Gauge
	FreeDiskBytes  prometheus.Gauge
	Commits        prometheus.Counter
	ChallengesSeen prometheus.Counter
	Answered       prometheus.Counter
	ChainHeight    prometheus.Gauge
}

// NewMetrics makes the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "datdot_hoster", Name: name, Help: help})
	}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "datdot_hoster", Name: name, Help: help})
	}
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "datdot_hoster", Name: "http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		BlocksServed: c("blocks_served_total", "Blocks served (single, range and proof reads)."),
		BytesServed:  c("block_bytes_served_total", "Block bytes served."),
		BlocksStored: c("blocks_stored_total", "Blocks stored durably from pushes and repairs."),
		BytesStored:  c("block_bytes_stored_total", "Block bytes stored durably."),
		PushRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "datdot_hoster", Name: "pushes_refused_total",
			Help: "Pushes refused, by reason."}, []string{"reason"}),
		DamagedBlocks:  c("damaged_blocks_total", "Stored blocks that failed their check against the tree."),
		RepairedCores:  c("repaired_cores_total", "Cores rebuilt from other holders."),
		ScrubbedBlocks: c("scrubbed_blocks_total", "Blocks re-read and checked by the scrubber."),
		UsedBytes:      g("used_bytes", "Bytes of core data held."),
		CapacityBytes:  g("capacity_bytes", "Capacity the hoster offers (0: unlimited)."),
		FreeDiskBytes:  g("free_disk_bytes", "Bytes free on the data disk."),
		Commits:        c("commits_total", "MsgCommit transactions included on chain."),
		ChallengesSeen: c("challenges_seen_total", "Storage challenges addressed to this hoster."),
		Answered:       c("challenges_answered_total", "Storage challenge answers included on chain."),
		ChainHeight:    g("chain_height", "Last chain height the follower processed."),
	}
	reg.MustRegister(m.Requests, m.BlocksServed, m.BytesServed, m.BlocksStored, m.BytesStored, m.PushRefused,
		m.DamagedBlocks, m.RepairedCores, m.ScrubbedBlocks, m.UsedBytes, m.CapacityBytes, m.FreeDiskBytes,
		m.Commits, m.ChallengesSeen, m.Answered, m.ChainHeight)
	return m
}
