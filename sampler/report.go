package sampler

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Report is what `netcause analyze` prints.
type Report struct {
	Totals Totals `json:"totals"`
	// Local are the addresses taken as this host; LocalInferred says they
	// were guessed (the address in most connections) rather than given.
	Local         []string       `json:"local"`
	LocalInferred bool           `json:"local_inferred"`
	Findings      []Finding      `json:"findings"`
	Peers         []PeerReport   `json:"peers"`
	Connections   []ConnReport   `json:"connections"`
	ICMPErrors    []ICMPReport   `json:"icmp_errors"`
	Error         string         `json:"error,omitempty"`
	records       []ConnRecord   // for the CSV and text writers
	peerIndex     map[string]int // peer+role -> index in Peers
}

// Totals sums the whole capture. The first six are the figures checked
// against tshark.
type Totals struct {
	Connections     int     `json:"connections"`      // TCP connections (tshark's tcp.stream)
	Handshakes      int     `json:"handshakes"`       // SYN answered by SYN-ACK, both captured
	UnansweredSYNs  int     `json:"unanswered_syns"`  // connections with nothing but SYNs
	Refused         int     `json:"refused"`          // SYN answered by RST
	Resets          uint64  `json:"resets"`           // RST segments
	Retransmissions uint64  `json:"retransmissions"`  // segments, as tcp.analysis.retransmission
	SYNRetransmits  int     `json:"syn_retransmits"`  // SYNs sent again
	SYNCollisions   int     `json:"syn_collisions"`   // SYNs answered by a bare ACK
	DataRetransmits uint64  `json:"data_retransmits"` // retransmitted segments with payload
	ZeroWindows     uint64  `json:"zero_windows"`
	Responses       uint64  `json:"responses"`
	Unanswered      uint64  `json:"unanswered_requests"`
	SmallMSS        int     `json:"small_mss_handshakes"`
	ICMPErrors      uint64  `json:"icmp_errors"`
	Packets         int64   `json:"packets"`
	TCPPackets      uint64  `json:"tcp_packets"`
	Undecodable     int64   `json:"undecodable_packets"`
	First           string  `json:"first_packet,omitempty"`
	Last            string  `json:"last_packet,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// Finding names a documented cause (shared/causes.md; the alert pack's
// cause label) and the evidence for it.
type Finding struct {
	Causes   []string `json:"causes"`
	Peer     string   `json:"peer"`
	Role     string   `json:"role"`
	Evidence string   `json:"evidence"`
}

// PeerReport sums the connections between this host and one peer, in one
// role.
type PeerReport struct {
	Peer            string   `json:"peer"`
	Role            string   `json:"role"` // this host's role: client or server
	Connections     int      `json:"connections"`
	Handshakes      int      `json:"handshakes"`
	Handshake       *Latency `json:"handshake_seconds,omitempty"`
	UnansweredSYNs  int      `json:"unanswered_syns"`
	SYNRetransmits  int      `json:"syn_retransmits"`
	SYNCollisions   int      `json:"syn_collisions"`
	Refused         int      `json:"refused"`
	ResetsSent      int      `json:"resets_sent"`
	ResetsReceived  int      `json:"resets_received"`
	RetransSent     int      `json:"retransmits_sent"`
	RetransReceived int      `json:"retransmits_received"`
	ZeroWinSent     int      `json:"zero_windows_sent"`
	ZeroWinReceived int      `json:"zero_windows_received"`
	Response        *Latency `json:"response_seconds,omitempty"`
	Unanswered      int      `json:"unanswered_requests"`
	MinMSS          int      `json:"min_mss,omitempty"`
	SmallMSS        int      `json:"small_mss_handshakes"`
	ICMPErrors      int      `json:"icmp_errors"`
	Causes          []string `json:"causes"`
	hs, resp        latencyAcc
}

// Latency summarises delays, in seconds.
type Latency struct {
	Count int     `json:"count"`
	Min   float64 `json:"min"`
	Avg   float64 `json:"avg"`
	Max   float64 `json:"max"`
}

type latencyAcc struct {
	n             int
	min, max, sum int64
}

func (l *latencyAcc) add(n int, min, max, sum int64) {
	if n == 0 {
		return
	}
	if l.n == 0 || min < l.min {
		l.min = min
	}
	if l.n == 0 || max > l.max {
		l.max = max
	}
	l.n += n
	l.sum += sum
}

func (l *latencyAcc) latency() *Latency {
	if l.n == 0 {
		return nil
	}
	return &Latency{Count: l.n, Min: secs(l.min), Avg: secs(l.sum) / float64(l.n), Max: secs(l.max)}
}

func secs(ns int64) float64 { return float64(ns) / 1e9 }

// ConnReport is one connection of the report.
type ConnReport struct {
	Client          string    `json:"client"`
	Server          string    `json:"server"`
	GuessedRoles    bool      `json:"guessed_roles,omitempty"`
	Start           string    `json:"start"`
	DurationSeconds float64   `json:"duration_seconds"`
	State           string    `json:"state"`
	Completeness    uint8     `json:"completeness"`
	SYNs            int       `json:"syns"`
	SYNCollision    bool      `json:"syn_collision,omitempty"`
	SynToSynAck     *float64  `json:"syn_to_synack_seconds"`
	SynAckToAck     *float64  `json:"synack_to_ack_seconds"`
	MSSClient       int       `json:"mss_client,omitempty"`
	MSSServer       int       `json:"mss_server,omitempty"`
	Packets         [2]uint32 `json:"packets"`         // client->server, server->client
	Retransmissions [2]uint32 `json:"retransmissions"` // as tshark, by sender
	Resets          [2]uint16 `json:"resets"`
	ZeroWindows     [2]uint32 `json:"zero_windows"`
	Response        *Latency  `json:"response_seconds,omitempty"`
	Unanswered      uint32    `json:"unanswered_requests"`
	ICMPErrors      uint16    `json:"icmp_errors"`
	Causes          []string  `json:"causes"`
}

// ICMPReport is one ICMP error.
type ICMPReport struct {
	Time  string `json:"time"`
	Kind  string `json:"kind"`
	From  string `json:"from"`
	About string `json:"about"` // the quoted packet, src -> dst
	MTU   uint32 `json:"mtu,omitempty"`
}

// The documented causes, spelled as the alert pack's cause label.
const (
	causeFirewallDrop = "firewall_drop"
	causeNoRoute      = "no_route"
	causePeerDown     = "peer_down"
	causeNATMismatch  = "nat_mismatch"
	causeCongestion   = "congestion"
	causeAppHang      = "app_hang"
	causeAppCrash     = "app_crash"
	causeMTU          = "mtu"
)

// connState names how a connection went.
func connState(r *ConnRecord) string {
	switch {
	case r.UnansweredSYN():
		return "syn-unanswered"
	case r.Refused:
		return "refused"
	case r.Completeness&compRst != 0:
		return "reset"
	case r.Completeness&compFin != 0:
		return "closed"
	case r.Handshake():
		return "open"
	case r.Completeness&compSyn != 0:
		return "syn-only"
	}
	return "midstream"
}

// connCauses maps one connection's evidence to causes.
func connCauses(r *ConnRecord) []string {
	var out []string
	add := func(c ...string) {
		for _, x := range c {
			if !contains(out, x) {
				out = append(out, x)
			}
		}
	}
	if r.UnansweredSYN() {
		add(causeFirewallDrop, causeNoRoute, causePeerDown, causeNATMismatch)
	}
	if r.Refused {
		add(causePeerDown)
	}
	if r.DataRetransmissions[0]+r.DataRetransmissions[1] > 0 {
		add(causeCongestion)
	}
	if r.Unanswered > 0 || r.ZeroWindows[0]+r.ZeroWindows[1] > 0 {
		add(causeAppHang)
	}
	if !r.Refused && r.Aborted && (r.Handshake() || r.GuessedRoles) {
		add(causeAppCrash)
	}
	if m := minNonZero(r.MSS[0], r.MSS[1]); m != 0 && m < SmallMSSThreshold {
		add(causeMTU)
	}
	return out
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func minNonZero(a, b uint16) uint16 {
	switch {
	case a == 0:
		return b
	case b == 0 || a < b:
		return a
	}
	return b
}

func fmtTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

func optSeconds(ns int64) *float64 {
	if ns < 0 {
		return nil
	}
	s := secs(ns)
	return &s
}

// localSet decides which addresses are this host.
type localSet struct {
	prefixes []netip.Prefix
}

func (l localSet) contains(a Addr) bool {
	ip := a.Netip()
	for _, p := range l.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// inferLocal picks the address that takes part in the most connections,
// preferring the one that opened more of them: a capture is usually taken
// on one host, and more often on the caller's.
func inferLocal(recs []ConnRecord) []netip.Prefix {
	type score struct{ conns, opened int }
	scores := map[Addr]*score{}
	get := func(a Addr) *score {
		s := scores[a]
		if s == nil {
			s = &score{}
			scores[a] = s
		}
		return s
	}
	for i := range recs {
		r := &recs[i]
		c := get(r.Client.Addr)
		c.conns++
		c.opened++
		if r.Server.Addr != r.Client.Addr {
			get(r.Server.Addr).conns++
		}
	}
	var best Addr
	var bs *score
	for a, s := range scores {
		if bs == nil || s.conns > bs.conns || s.conns == bs.conns && (s.opened > bs.opened ||
			s.opened == bs.opened && compareEndpoint(&a, 0, &best, 0) < 0) {
			best, bs = a, s
		}
	}
	if bs == nil {
		return nil
	}
	ip := best.Netip()
	return []netip.Prefix{netip.PrefixFrom(ip, ip.BitLen())}
}

// connections fills Connections from the records, once: the text output
// needs only the rows it prints, so building all of them waits until JSON
// or CSV asks.
func (rep *Report) connections() []ConnReport {
	if rep.Connections == nil && len(rep.records) > 0 {
		rep.Connections = make([]ConnReport, len(rep.records))
		for i := range rep.records {
			rep.Connections[i] = connReport(&rep.records[i])
		}
	}
	return rep.Connections
}

// Report summarises the analysis per peer and per connection.
func (a *Analysis) Report(o AnalyzeOptions) *Report {
	rep := &Report{records: a.Records, peerIndex: map[string]int{}}
	local := o.Local
	if len(local) == 0 {
		local = inferLocal(a.Records)
		rep.LocalInferred = true
	}
	for _, p := range local {
		rep.Local = append(rep.Local, p.String())
	}
	ls := localSet{local}
	t := &rep.Totals
	t.Packets, t.TCPPackets, t.Undecodable = a.Packets, a.Counters.TCP, a.Undecodable
	t.Resets, t.Retransmissions = a.Counters.Resets, a.Counters.Retransmission
	t.ICMPErrors = a.Counters.ICMPErrors
	if a.Packets > 0 {
		t.First, t.Last = fmtTime(a.First), fmtTime(a.Last)
		t.DurationSeconds = secs(a.Last - a.First)
	}
	for i := range a.Records {
		r := &a.Records[i]
		t.Connections++
		if r.Handshake() {
			t.Handshakes++
		}
		if r.UnansweredSYN() {
			t.UnansweredSYNs++
		}
		if r.Refused {
			t.Refused++
		}
		if r.SYNs > 1 {
			t.SYNRetransmits += int(r.SYNs) - 1
		}
		if r.SYNCollision {
			t.SYNCollisions++
		}
		t.DataRetransmits += uint64(r.DataRetransmissions[0] + r.DataRetransmissions[1])
		t.ZeroWindows += uint64(r.ZeroWindows[0] + r.ZeroWindows[1])
		t.Responses += uint64(r.Responses)
		t.Unanswered += uint64(r.Unanswered)
		if m := minNonZero(r.MSS[0], r.MSS[1]); m != 0 && m < SmallMSSThreshold {
			t.SmallMSS++
		}
		rep.addToPeer(r, ls, o.PeerMap)
	}
	for _, e := range a.ICMP {
		rep.ICMPErrors = append(rep.ICMPErrors, ICMPReport{
			Time: fmtTime(e.TS), Kind: e.Kind.String(), From: e.From.String(),
			About: e.Src.String() + " -> " + e.Dst.String(), MTU: e.MTU,
		})
		rep.addICMPFinding(e, o.PeerMap)
	}
	for i := range rep.Peers {
		p := &rep.Peers[i]
		p.Handshake, p.Response = p.hs.latency(), p.resp.latency()
		rep.addPeerFindings(p)
	}
	sort.SliceStable(rep.Peers, func(i, j int) bool { return rep.Peers[i].Connections > rep.Peers[j].Connections })
	return rep
}

func connReport(r *ConnRecord) ConnReport {
	cr := ConnReport{
		Client: r.Client.String(), Server: r.Server.String(), GuessedRoles: r.GuessedRoles,
		Start: fmtTime(r.Start), DurationSeconds: secs(r.End - r.Start),
		State: connState(r), Completeness: r.Completeness, SYNs: int(r.SYNs), SYNCollision: r.SYNCollision,
		SynToSynAck: optSeconds(r.SynToSynAck), SynAckToAck: optSeconds(r.SynAckToAck),
		MSSClient: int(r.MSS[0]), MSSServer: int(r.MSS[1]),
		Packets: r.Packets, Retransmissions: r.Retransmissions, Resets: r.Resets,
		ZeroWindows: r.ZeroWindows, Unanswered: r.Unanswered, ICMPErrors: r.ICMPErrors,
		Causes: connCauses(r),
	}
	if r.Responses > 0 {
		var l latencyAcc
		l.add(int(r.Responses), r.ResponseMin, r.ResponseMax, r.ResponseSum)
		cr.Response = l.latency()
	}
	if cr.Causes == nil {
		cr.Causes = []string{}
	}
	return cr
}

// addToPeer adds a connection to its peer's row. The peer is the endpoint
// that is not this host; when neither is, the server, seen from the
// client.
func (rep *Report) addToPeer(r *ConnRecord, ls localSet, pm *PeerMap) {
	role, peer := "client", r.Server.Addr
	if ls.contains(r.Server.Addr) && !ls.contains(r.Client.Addr) {
		role, peer = "server", r.Client.Addr
	}
	p := rep.peer(pm.Label(peer), role)
	// Array fields are by sender: this host is index 0 as client.
	sent, recv := 0, 1
	if role == "server" {
		sent, recv = 1, 0
	}
	p.Connections++
	if r.Handshake() {
		p.Handshakes++
	}
	if role == "client" && r.SynToSynAck >= 0 {
		p.hs.add(1, r.SynToSynAck, r.SynToSynAck, r.SynToSynAck)
	}
	if role == "server" && r.SynAckToAck >= 0 {
		p.hs.add(1, r.SynAckToAck, r.SynAckToAck, r.SynAckToAck)
	}
	if r.UnansweredSYN() {
		p.UnansweredSYNs++
	}
	if r.SYNs > 1 {
		p.SYNRetransmits += int(r.SYNs) - 1
	}
	if r.SYNCollision {
		p.SYNCollisions++
	}
	if r.Refused {
		p.Refused++
	} else if r.Aborted {
		p.ResetsSent += int(r.Resets[sent])
		p.ResetsReceived += int(r.Resets[recv])
	}
	p.RetransSent += int(r.DataRetransmissions[sent])
	p.RetransReceived += int(r.DataRetransmissions[recv])
	p.ZeroWinSent += int(r.ZeroWindows[sent])
	p.ZeroWinReceived += int(r.ZeroWindows[recv])
	p.resp.add(int(r.Responses), r.ResponseMin, r.ResponseMax, r.ResponseSum)
	p.Unanswered += int(r.Unanswered)
	if m := int(minNonZero(r.MSS[0], r.MSS[1])); m != 0 {
		if p.MinMSS == 0 || m < p.MinMSS {
			p.MinMSS = m
		}
		if m < SmallMSSThreshold {
			p.SmallMSS++
		}
	}
	p.ICMPErrors += int(r.ICMPErrors)
}

func (rep *Report) peer(label, role string) *PeerReport {
	k := label + "\x00" + role
	i, ok := rep.peerIndex[k]
	if !ok {
		i = len(rep.Peers)
		rep.Peers = append(rep.Peers, PeerReport{Peer: label, Role: role, Causes: []string{}})
		rep.peerIndex[k] = i
	}
	return &rep.Peers[i]
}

func (rep *Report) find(p *PeerReport, causes []string, format string, args ...any) {
	for _, c := range causes {
		if !contains(p.Causes, c) {
			p.Causes = append(p.Causes, c)
		}
	}
	rep.Findings = append(rep.Findings, Finding{Causes: causes, Peer: p.Peer, Role: p.Role,
		Evidence: fmt.Sprintf(format, args...)})
}

// addPeerFindings states the causes a peer's figures point to, in the
// words of shared/causes.md.
func (rep *Report) addPeerFindings(p *PeerReport) {
	if p.UnansweredSYNs > 0 {
		rep.find(p, []string{causeFirewallDrop, causeNoRoute, causePeerDown, causeNATMismatch},
			"%d of %d connections sent SYNs that were never answered (%d SYN retransmissions): a firewall dropping SYNs, no route, the peer host down, or a NAT mismatch",
			p.UnansweredSYNs, p.Connections, p.SYNRetransmits)
	}
	if p.SYNCollisions > 0 {
		// No documented cause: the server's stale connection is left by a
		// client gone without a RST, or a NAT reusing a port too soon.
		rep.find(p, []string{}, "%d SYNs answered by a bare ACK instead of a SYN-ACK: the server still held a connection on the same ports (a client gone without a RST, or a NAT reusing a port too soon); the client reset it and retried",
			p.SYNCollisions)
	}
	if p.Refused > 0 {
		rep.find(p, []string{causePeerDown}, "%d SYNs answered by RST: nothing listens on the port (peer down)", p.Refused)
	}
	if n := p.RetransSent + p.RetransReceived; n > 0 {
		rep.find(p, []string{causeCongestion}, "%d data segments retransmitted (%d sent, %d received): packet loss on the path",
			n, p.RetransSent, p.RetransReceived)
	}
	if p.Unanswered > 0 {
		rep.find(p, []string{causeAppHang}, "%d requests got no reply after the handshake completed: the application hangs", p.Unanswered)
	}
	if n := p.ResetsSent + p.ResetsReceived; n > 0 {
		rep.find(p, []string{causeAppCrash}, "%d RST segments on established connections (%d sent, %d received): an application crashed or was killed",
			n, p.ResetsSent, p.ResetsReceived)
	}
	if n := p.ZeroWinSent + p.ZeroWinReceived; n > 0 {
		rep.find(p, []string{causeAppHang}, "%d zero-window advertisements (%d sent, %d received): a receiving application stopped reading",
			n, p.ZeroWinSent, p.ZeroWinReceived)
	}
	if p.SmallMSS > 0 {
		rep.find(p, []string{causeMTU}, "%d handshakes advertised an MSS below %d (smallest %d): an MTU far too small on the path",
			p.SmallMSS, SmallMSSThreshold, p.MinMSS)
	}
}

func (rep *Report) addICMPFinding(e ICMPRecord, pm *PeerMap) {
	var causes []string
	var why string
	switch e.Kind {
	case ICMPFragNeeded:
		causes, why = []string{causeMTU}, fmt.Sprintf("fragmentation needed (next-hop MTU %d): the path MTU is smaller than the packets sent", e.MTU)
	case ICMPNet, ICMPHost:
		causes, why = []string{causeNoRoute, causePeerDown}, e.Kind.String()+" unreachable: no route, or the peer host is down"
	case ICMPPort, ICMPProtocol:
		causes, why = []string{causePeerDown}, e.Kind.String()+" unreachable: nothing listens there"
	case ICMPProhibited:
		causes, why = []string{causeFirewallDrop}, "administratively prohibited, or port unreachable for a TCP segment: a firewall REJECT rule"
	default:
		causes, why = []string{causeNoRoute}, "destination unreachable"
	}
	label := pm.Label(e.Dst.Addr)
	role := "client"
	rep.Findings = append(rep.Findings, Finding{Causes: causes, Peer: label, Role: role,
		Evidence: fmt.Sprintf("ICMP from %s about %s -> %s: %s", e.From, e.Src, e.Dst, why)})
}

// String renders a Latency as "avg (min-max)" milliseconds.
func (l *Latency) String() string {
	if l == nil {
		return "-"
	}
	return fmt.Sprintf("%s (%s..%s)", ms(l.Avg), ms(l.Min), ms(l.Max))
}

func ms(s float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", s*1000), "0"), ".") + "ms"
}
