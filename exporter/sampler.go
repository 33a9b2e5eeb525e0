package exporter

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/internal/netns"
	"github.com/netcause/netcause/sampler"
)

// SamplerFlags are the --sampler.* command-line flags.
type SamplerFlags struct {
	Enabled        *bool
	Rate           *float64
	Interfaces     *string
	Filter         *string
	PeerMap        *string
	MaxPeers       *int
	MaxConnections *int
	SYNTimeout     *time.Duration
	RespTimeout    *time.Duration
	IdleTimeout    *time.Duration
	RingMB         *int
}

// AddSamplerFlags declares the sampler's flags on app.
func AddSamplerFlags(app *kingpin.Application) *SamplerFlags {
	return &SamplerFlags{
		Enabled: app.Flag("sampler.enabled", "Capture TCP headers (AF_PACKET, needs CAP_NET_RAW) in every target namespace for per-peer handshake and response latency, unanswered SYNs, resets and retransmissions.").Default("false").Bool(),
		Rate:    app.Flag("sampler.rate", "Share of connections (0-1] whose data packets are captured and analysed (retransmissions, response latency); SYN, FIN, RST and ICMP errors are always captured. Lower it on busy hosts.").Default("1").Float64(),
		Interfaces: app.Flag("sampler.interfaces",
			"Comma-separated interfaces to capture on in each namespace; empty: all (a packet crossing a bridge and its port is then seen twice).").Default("").String(),
		Filter:         app.Flag("sampler.filter", "Comma-separated ports, addresses and CIDRs (e.g. 443,10.0.2.0/24): only TCP traffic with such a port and such an address on either side is captured.").Default("").String(),
		PeerMap:        app.Flag("sampler.peer-map", "File of \"CIDR [NAME]\" lines: addresses in a CIDR count as one peer, labelled NAME (or the CIDR).").Default("").String(),
		MaxPeers:       app.Flag("sampler.max-peers", "Peers with their own series per namespace (K); the rest are peer=\"other\".").Default(fmt.Sprint(sampler.DefaultMaxPeers)).Int(),
		MaxConnections: app.Flag("sampler.max-connections", "Most connections tracked per namespace; beyond it the least recently seen is dropped (netcause_sampler_connections_evicted_total).").Default(fmt.Sprint(sampler.DefaultMaxConnections)).Int(),
		SYNTimeout:     app.Flag("sampler.syn-timeout", "A SYN with neither SYN-ACK nor RST after this long counts as unanswered.").Default(sampler.DefaultSYNTimeout.String()).Duration(),
		RespTimeout:    app.Flag("sampler.response-timeout", "A request with no reply byte after this long counts as unanswered.").Default(sampler.DefaultResponseTimeout.String()).Duration(),
		IdleTimeout:    app.Flag("sampler.idle-timeout", "A connection with no packet for this long is forgotten.").Default(sampler.DefaultIdleTimeout.String()).Duration(),
		RingMB:         app.Flag("sampler.ring-size", "Capture ring per namespace, in MiB (kernel memory; a full ring drops packets, see netcause_sampler_kernel_drops_total).").Default("4").Int(),
	}
}

// LiveConfig turns the flags into the sampler's configuration.
func (f *SamplerFlags) LiveConfig() (sampler.LiveConfig, error) {
	cfg := sampler.LiveConfig{
		Tracker: sampler.Config{
			MaxConnections:  *f.MaxConnections,
			SYNTimeout:      *f.SYNTimeout,
			ResponseTimeout: *f.RespTimeout,
			IdleTimeout:     *f.IdleTimeout,
			ClosedTimeout:   sampler.DefaultClosedTimeout,
			SampleRate:      *f.Rate,
		},
		MaxPeers: *f.MaxPeers,
		Ring:     sampler.DefaultRing,
	}
	if *f.Rate <= 0 || *f.Rate > 1 {
		return cfg, fmt.Errorf("--sampler.rate %v: want a share in (0, 1]", *f.Rate)
	}
	if *f.MaxPeers < 1 || *f.MaxConnections < 1 {
		return cfg, fmt.Errorf("--sampler.max-peers and --sampler.max-connections must be at least 1")
	}
	mb := *f.RingMB
	if mb < 2 || mb&(mb-1) != 0 {
		return cfg, fmt.Errorf("--sampler.ring-size %d: want a power of two MiB, at least 2", mb)
	}
	// At least 2 blocks, so the kernel fills one while the sampler reads
	// the other; 1 MiB blocks past that.
	cfg.Ring.Blocks = max(mb, 2)
	cfg.Ring.BlockSize = (mb << 20) / cfg.Ring.Blocks
	for _, name := range strings.Split(*f.Interfaces, ",") {
		if name = strings.TrimSpace(name); name != "" {
			cfg.Interfaces = append(cfg.Interfaces, name)
		}
	}
	var err error
	if cfg.Filter, err = sampler.ParseFilter(*f.Filter); err != nil {
		return cfg, err
	}
	if *f.PeerMap != "" {
		file, err := os.Open(*f.PeerMap)
		if err != nil {
			return cfg, fmt.Errorf("--sampler.peer-map: %w", err)
		}
		defer file.Close()
		if cfg.PeerMap, err = sampler.ParsePeerMap(file); err != nil {
			return cfg, fmt.Errorf("--sampler.peer-map %s: %w", *f.PeerMap, err)
		}
	}
	return cfg, nil
}

// Sampler runs a live sampler in every target namespace and exports their
// per-peer metrics. New namespaces get a sampler when they appear (checked
// every scrape and every 30 s); gone ones have theirs closed. A namespace
// where capture cannot start is a blind spot:
// netcause_collector_unavailable{collector="sampler"}, retried every
// minute.
type Sampler struct {
	cfg    sampler.LiveConfig
	netns  netns.Options
	logger *slog.Logger
	start  func(netns.Target, sampler.LiveConfig) (liveSampler, error)

	mu      sync.Mutex
	targets map[uint64]*samplerTarget
	stop    chan struct{}
	done    chan struct{}
}

// liveSampler is what Sampler needs of a sampler.Live.
type liveSampler interface {
	Snapshot() sampler.LiveStats
	Err() error
	Close()
}

type samplerTarget struct {
	target  netns.Target
	live    liveSampler
	err     error
	lastTry time.Time
}

const (
	samplerReconcileEvery = 30 * time.Second
	samplerRetryEvery     = time.Minute
	samplerName           = "sampler"
)

// NewSampler starts samplers in the namespaces opts finds now.
func NewSampler(cfg sampler.LiveConfig, opts netns.Options, logger *slog.Logger) *Sampler {
	s := &Sampler{cfg: cfg, netns: opts, logger: logger, targets: map[uint64]*samplerTarget{},
		stop: make(chan struct{}), done: make(chan struct{}),
		start: func(t netns.Target, c sampler.LiveConfig) (liveSampler, error) {
			l, err := sampler.StartLive(t, c)
			if err != nil {
				// A nil *Live in the interface would not be nil: reconcile
				// and Collect would call it and panic.
				return nil, err
			}
			return l, nil
		}}
	s.reconcile()
	go s.loop()
	return s
}

func (s *Sampler) loop() {
	defer close(s.done)
	tick := time.NewTicker(samplerReconcileEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.reconcile()
		}
	}
}

// reconcile starts samplers in new namespaces, retries failed ones and
// closes those of vanished namespaces. It returns a copy of every target.
func (s *Sampler) reconcile() []samplerTarget {
	d, err := netns.Discover(s.netns)
	if err != nil {
		s.logger.Warn("sampler: namespace discovery incomplete", "err", err)
	}
	if len(d.Targets) == 0 {
		d.Targets = []netns.Target{{Name: s.netns.SelfName, Kind: "self"}}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	live := make(map[uint64]bool, len(d.Targets))
	out := make([]samplerTarget, 0, len(d.Targets))
	now := time.Now()
	for _, t := range d.Targets {
		live[t.Inode] = true
		st := s.targets[t.Inode]
		if st == nil {
			st = &samplerTarget{target: t}
			s.targets[t.Inode] = st
		}
		st.target.Name = t.Name
		if st.live != nil && now.Sub(st.lastTry) >= samplerRetryEvery {
			if err := st.live.Err(); err != nil {
				// Capture stopped (the namespace's state changed under it):
				// start afresh, counters from zero.
				st.live.Close()
				st.live = nil
				s.logger.Warn("sampler stopped in namespace; restarting", "netns", t.Name, "err", err)
			}
		}
		if st.live == nil && (st.lastTry.IsZero() || now.Sub(st.lastTry) >= samplerRetryEvery) {
			st.lastTry = now
			st.live, st.err = s.start(t, s.cfg)
			switch {
			case st.err != nil:
				s.logger.Warn("sampler cannot capture in namespace; reported as netcause_collector_unavailable{collector=\"sampler\"} until it can",
					"netns", t.Name, "reason", collector.Reason(st.err), "err", st.err)
			default:
				s.logger.Info("sampler capturing", "netns", t.Name)
			}
		}
		out = append(out, *st)
	}
	for ino, st := range s.targets {
		if !live[ino] {
			if st.live != nil {
				st.live.Close()
			}
			delete(s.targets, ino)
		}
	}
	return out
}

// Describe sends nothing: the series depend on the namespaces and peers
// found at scrape time.
func (s *Sampler) Describe(chan<- *prometheus.Desc) {}

// Collect sends every namespace's sampler metrics.
func (s *Sampler) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	success := 1.0
	for _, st := range s.reconcile() {
		err := st.err
		var stats sampler.LiveStats
		if st.live != nil {
			stats = st.live.Snapshot()
			err = stats.Err
		}
		if err != nil {
			success = 0
			unavailable.Emit(ch, 1, samplerName, st.target.Name, collector.Reason(err))
			if st.live == nil {
				continue
			}
		}
		emitSampler(ch, st.target.Name, &stats, &s.cfg)
	}
	scrapeDuration.Emit(ch, time.Since(start).Seconds(), samplerName)
	scrapeSuccess.Emit(ch, success, samplerName)
}

// Close stops every sampler.
func (s *Sampler) Close() {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for ino, st := range s.targets {
		if st.live != nil {
			st.live.Close()
		}
		delete(s.targets, ino)
	}
}
