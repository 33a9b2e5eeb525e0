package sampler

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netcause/netcause/internal/netns"
)

// LiveConfig configures a live sampler.
type LiveConfig struct {
	// Tracker bounds, timeouts and the sample rate; Peers, Local, OnEnd
	// and OnICMP are set by the sampler.
	Tracker Config
	// MaxPeers is K: peers with their own series; the rest are "other".
	MaxPeers int
	PeerMap  *PeerMap
	// Interfaces to capture on, by name; empty means all.
	Interfaces []string
	Filter     Filter
	// Snaplen is the most bytes kept per packet (headers only); 0 means
	// DefaultSnaplen.
	Snaplen int
	Ring    RingConfig
}

// Defaults of the live sampler.
const (
	DefaultSnaplen         = 128
	DefaultMaxPeers        = 50
	DefaultMaxConnections  = 100000
	DefaultSYNTimeout      = 3 * time.Second
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultClosedTimeout   = 10 * time.Second
	defaultRefreshInterval = 30 * time.Second
	pollTimeout            = 100 * time.Millisecond
)

// Live captures in one network namespace and keeps per-peer figures.
type Live struct {
	target  netns.Target
	cfg     LiveConfig
	ring    *ring
	dec     *Decoder
	tr      *Tracker
	peers   *PeerTable
	pkt     Packet
	stop    atomic.Bool
	done    chan struct{}
	refresh time.Duration

	// Namespace facts, refreshed by the capture goroutine.
	local   atomic.Pointer[[]Addr]
	loIndex int32
	ifaces  []int32 // nil: all interfaces

	mu    sync.Mutex // guards everything below and the tracker
	stats LiveStats
}

// LiveStats are the sampler's own counters for one namespace.
type LiveStats struct {
	Captured      uint64 // packets read from the ring
	Ignored       uint64 // not for this sampler: other interfaces, loopback copies, filtered
	Undecodable   uint64
	KernelPackets uint64 // passed the kernel filter (dropped ones included)
	KernelDrops   uint64 // dropped by the kernel: the ring was full
	// CPU is the time the capture thread has spent, decoding and
	// tracking included.
	CPU         time.Duration
	Tracker     Counters
	Connections int // tracked now
	Peers       []PeerSnapshot
	// Err is why capture stopped, nil while it runs.
	Err error
}

// StartLive opens a capture in target's namespace and starts reading it.
// It fails when the socket cannot be opened (CAP_NET_RAW missing, no
// AF_PACKET support) or the namespace cannot be entered.
func StartLive(target netns.Target, cfg LiveConfig) (*Live, error) {
	if cfg.Snaplen <= 0 {
		cfg.Snaplen = DefaultSnaplen
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = DefaultMaxPeers
	}
	if cfg.Ring.BlockSize == 0 {
		cfg.Ring = DefaultRing
	}
	prog, err := cfg.Filter.Program(cfg.Tracker.SampleRate, uint32(cfg.Snaplen))
	if err != nil {
		return nil, err
	}
	l := &Live{target: target, cfg: cfg, dec: NewDecoder(), done: make(chan struct{}), refresh: defaultRefreshInterval}
	l.peers = NewPeerTable(cfg.MaxPeers, cfg.PeerMap)
	tc := cfg.Tracker
	tc.Peers, tc.OnEnd, tc.OnICMP = l.peers, nil, nil
	tc.Local = l.isLocal
	l.tr = NewTracker(tc)
	err = target.Do(func() error {
		var err error
		if l.ring, err = openRing(prog, cfg.Ring); err != nil {
			return err
		}
		return l.readNamespace()
	})
	if err != nil {
		if l.ring != nil {
			l.ring.close()
		}
		return nil, err
	}
	go l.run()
	return l, nil
}

// readNamespace learns this namespace's addresses and interface indices;
// it runs inside the namespace.
func (l *Live) readNamespace() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	var local []Addr
	var want []int32
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 {
			l.loIndex = int32(ifc.Index)
		}
		for _, name := range l.cfg.Interfaces {
			if name == ifc.Name {
				want = append(want, int32(ifc.Index))
			}
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue // the interface went away meanwhile
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if v4 := ipn.IP.To4(); v4 != nil {
					local = append(local, AddrFrom4(v4))
				} else {
					local = append(local, AddrFrom16(ipn.IP))
				}
			}
		}
	}
	l.local.Store(&local)
	if len(l.cfg.Interfaces) > 0 {
		if want == nil {
			want = []int32{} // none of the named interfaces exists here
		}
		l.ifaces = want
	}
	return nil
}

// isLocal tells the tracker which end of a new connection is this host:
// an address of the namespace, or else the side the kernel says sent it.
func (l *Live) isLocal(src, dst Addr, outgoing bool) bool {
	if p := l.local.Load(); p != nil {
		for _, a := range *p {
			if a == src {
				return true
			}
		}
		for _, a := range *p {
			if a == dst {
				return false
			}
		}
	}
	return outgoing
}

func (l *Live) run() {
	defer close(l.done)
	// One thread does all the work, so its CPU time is the sampler's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lastRefresh, lastTick := time.Now(), time.Now()
	var ru unix.Rusage
	for !l.stop.Load() {
		ready, err := l.ring.wait(pollTimeout)
		if err != nil {
			l.fail(err)
			return
		}
		now := time.Now()
		l.mu.Lock()
		if ready {
			l.ring.drain(l.handle)
		}
		if now.Sub(lastTick) >= time.Second {
			l.tr.Tick(now.UnixNano())
			lastTick = now
		}
		if unix.Getrusage(unix.RUSAGE_THREAD, &ru) == nil {
			l.stats.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		l.mu.Unlock()
		if now.Sub(lastRefresh) >= l.refresh {
			lastRefresh = now
			if err := l.target.Do(l.readNamespace); err != nil {
				l.fail(err)
				return
			}
		}
	}
}

func (l *Live) fail(err error) {
	l.mu.Lock()
	l.stats.Err = err
	l.mu.Unlock()
}

// handle runs for every captured packet, with l.mu held.
func (l *Live) handle(f *frame) {
	l.stats.Captured++
	if f.pkttype == unix.PACKET_OUTGOING && f.ifindex == l.loIndex {
		// Loopback shows every packet twice, going out and coming in.
		l.stats.Ignored++
		return
	}
	if l.ifaces != nil && !containsIndex(l.ifaces, f.ifindex) {
		l.stats.Ignored++
		return
	}
	p := &l.pkt
	if err := l.dec.DecodeIP(f.data, p); err != nil {
		l.stats.Undecodable++
		return
	}
	if p.Kind == KindOther || !l.cfg.Filter.Empty() && !l.cfg.Filter.Match(p.Src, p.Dst, p.SrcPort, p.DstPort) {
		l.stats.Ignored++
		return
	}
	p.TS = f.ts
	l.tr.Handle(p, f.pkttype == unix.PACKET_OUTGOING)
}

func containsIndex(s []int32, x int32) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// Err is why capture stopped, nil while it runs.
func (l *Live) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats.Err
}

// Snapshot returns the counters and per-peer figures now.
func (l *Live) Snapshot() LiveStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stats.Err == nil {
		if p, d, err := l.ring.stats(); err == nil {
			l.stats.KernelPackets += p
			l.stats.KernelDrops += d
		}
	}
	s := l.stats
	s.Tracker = l.tr.C
	s.Connections = l.tr.Len()
	s.Peers = l.peers.Snapshot(time.Now().UnixNano())
	return s
}

// Close stops the capture and releases the ring.
func (l *Live) Close() {
	if l.stop.Swap(true) {
		return
	}
	<-l.done
	l.ring.close()
}
