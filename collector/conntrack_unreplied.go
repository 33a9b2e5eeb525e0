package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

// Conntrack entries that never saw a reply, by the NAT applied to them: the
// trace a NAT mapping leaves when replies do not find their way back (an
// SNAT to an address the destination routes elsewhere, a DNAT whose reply
// bypasses the translating host). The other conntrack statistics cannot
// show it: the first packet of such a flow is tracked and translated
// normally, and the reply that would complete it never arrives.
//
// Cost: the collector dumps the table through ctnetlink, asking the kernel
// (CTA_STATUS/CTA_STATUS_MASK, Linux 5.19) to send only entries without
// IPS_SEEN_REPLY, so a busy but healthy table costs the kernel's walk and
// almost nothing else. The walk covers the machine's whole hash table
// whichever namespace asks (22 ns a bucket measured here), so namespaces
// with no entry at all are not dumped. It stops reading after --collector.conntrack.
// --collector.conntrack_unreplied.limit entries and says so (netcause_conntrack_unreplied_
// truncated); the counts are then lower bounds. A kernel without the
// status filter sends every entry: the status is checked here as well, so
// the counts stay right and the limit counts every entry read.
//
// Handshakes in flight are unreplied for one round trip. To keep a busy
// NAT gateway's normal traffic out, an entry counts only once it has been
// idle (no packet either way) for more than ctUnrepliedIdle: its remaining
// timeout is that far below the timeout the kernel set at its last packet
// (the namespace's nf_conntrack_tcp_timeout_syn_sent, udp_timeout,
// icmp_timeout, icmpv6_timeout). A client retransmitting its SYN refreshes
// the entry at 1, 3, 7, 15 s…, so a stuck connection attempt counts most of
// the time, and for the timeout (120 s by default) after its last SYN.
// Unreplied TCP entries past SYN_SENT (picked up mid-stream, one direction
// only) and protocols without a known timeout count at once.

// conntrackUnrepliedLimit starts at its default so collectors built where
// kingpin never parses a command line (tests) behave as shipped.
var conntrackUnrepliedLimit = 10000

func init() {
	// A collector of its own: the dump walks the machine-wide conntrack
	// hash table (milliseconds), where the conntrack collector's statistics
	// take tens of microseconds; a user can turn the dump off alone.
	Register("conntrack_unreplied", true, PerNamespace, func(logger *slog.Logger) (Collector, error) {
		return &conntrackUnrepliedCollector{ct: newConntrackCollector(logger), limit: conntrackUnrepliedLimit}, nil
	})
	kingpin.Flag("collector.conntrack_unreplied.limit",
		"Conntrack entries without a reply read per namespace and scrape for netcause_conntrack_unreplied_entries; "+
			"beyond it the dump stops and netcause_conntrack_unreplied_truncated is 1. 0 turns the dump off.").
		Default(strconv.Itoa(conntrackUnrepliedLimit)).IntVar(&conntrackUnrepliedLimit)
}

var (
	conntrackUnreplied = gauge("conntrack", "unreplied_entries",
		"Conntrack entries that never saw a reply packet (no IPS_SEEN_REPLY) and have been idle for more than 2 s, "+
			"by NAT (none, snat, dnat, both: the translation applied) and protocol (tcp, udp, icmp, other). "+
			"A TCP entry here is a SYN that got no answer; a translated one is the trace of replies that do not come back through the NAT. "+
			"Handshakes in flight are left out. Lower bounds when netcause_conntrack_unreplied_truncated is 1.",
		"nat", "protocol").Reveals(catalog.NATMismatch, catalog.FirewallDrop, catalog.PeerDown)
	conntrackUnrepliedTruncated = gauge("conntrack", "unreplied_truncated",
		"1 if the last dump of unreplied conntrack entries stopped at --collector.conntrack_unreplied.limit, so "+
			"netcause_conntrack_unreplied_entries are lower bounds; else 0.")
)

// conntrackUnrepliedCollector counts the entries that never saw a reply.
type conntrackUnrepliedCollector struct {
	ct    *conntrackCollector // module check and the global entry count
	limit int                 // entries read per dump; 0 turns the dump off
}

func (c *conntrackUnrepliedCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	if err := c.ct.moduleLoaded(); err != nil {
		return err
	}
	s, err := c.ct.readNetlink(t.Self())
	if err != nil {
		return fmt.Errorf("conntrack: %w", err)
	}
	return c.updateUnreplied(t, s, ch)
}

// updateUnreplied exports the unreplied entries. Only ctnetlink lists
// entries with their NAT status, so the procfs fallback goes without them.
// A failed dump exports nothing, rather than counts that look complete.
//
// A namespace without entries is not dumped: the kernel's conntrack table
// is one for the machine, and every namespace's dump walks all its buckets
// (about 6 ms for 262144 buckets here) to find its own entries.
func (c *conntrackUnrepliedCollector) updateUnreplied(t netns.Target, s ctSnapshot, ch chan<- prometheus.Metric) error {
	if c.limit <= 0 {
		return nil
	}
	if s.hasEntries && s.entries == 0 {
		emitCTUnreplied(t.Name, ctUnrepliedCounts{}, ch)
		return nil
	}
	u, err := readCTUnreplied(c.ct.procRoot, c.limit)
	if err != nil {
		return fmt.Errorf("conntrack: unreplied entries: %w", err)
	}
	emitCTUnreplied(t.Name, u, ch)
	return nil
}

// ctUnrepliedIdle is how long an unreplied entry must have been idle to
// count: longer than a round trip and the first SYN retransmission (1 s).
const ctUnrepliedIdle = 2 * time.Second

// IPS_* status bits (linux/netfilter/nf_conntrack_common.h).
const (
	ipsSeenReply = 1 << 1
	ipsSrcNAT    = 1 << 4
	ipsDstNAT    = 1 << 5
)

// ctnetlink attributes the entry decoder reads.
const (
	ctMsgNew          = 0 // IPCTNL_MSG_CT_NEW: a dumped entry
	ctMsgGet          = 1 // IPCTNL_MSG_CT_GET
	ctaTupleOrig      = 1
	ctaStatus         = 3
	ctaProtoinfo      = 4
	ctaTimeout        = 7
	ctaStatusMask     = 26
	ctaTupleProto     = 2 // in CTA_TUPLE_ORIG
	ctaProtoNum       = 1 // in CTA_TUPLE_PROTO
	ctaProtoinfoTCP   = 1 // in CTA_PROTOINFO
	ctaProtoinfoTCPSt = 1 // in CTA_PROTOINFO_TCP
	tcpConntrackSent  = 1 // TCP_CONNTRACK_SYN_SENT
	tcpConntrackSent2 = 9 // TCP_CONNTRACK_SYN_SENT2 (simultaneous open)
)

// The label values of netcause_conntrack_unreplied_entries, in index order.
var (
	ctNATNames   = [...]string{"none", "snat", "dnat", "both"}
	ctProtoNames = [...]string{"tcp", "udp", "icmp", "other"}
)

const (
	ctProtoTCP = iota
	ctProtoUDP
	ctProtoICMP
	ctProtoOther
)

// ctEntry is what the collector reads of one conntrack entry.
type ctEntry struct {
	status     uint32
	proto      uint8 // IPPROTO_*
	timeout    uint32
	hasTimeout bool
	tcpState   uint8
	hasTCP     bool
}

// decodeCTEntry decodes the body (nfgenmsg and attributes) of one
// IPCTNL_MSG_CT_NEW message of a dump.
func decodeCTEntry(b []byte) (ctEntry, error) {
	var e ctEntry
	if len(b) < nfgenmsgLen {
		return e, fmt.Errorf("ctnetlink: entry of %d bytes has no nfgenmsg", len(b))
	}
	ad, err := ctAttributes(b[nfgenmsgLen:])
	if err != nil {
		return e, fmt.Errorf("ctnetlink: entry: %w", err)
	}
	hasStatus, hasProto := false, false
	for ad.Next() {
		switch ad.Type() {
		case ctaStatus:
			e.status, hasStatus = ad.Uint32(), true
		case ctaTimeout:
			e.timeout, e.hasTimeout = ad.Uint32(), true
		case ctaTupleOrig:
			ad.Do(func(b []byte) error {
				return ctNested(b, ctaTupleProto, func(b []byte) error {
					return ctNested(b, ctaProtoNum, func(b []byte) error {
						if len(b) != 1 {
							return fmt.Errorf("protocol number of %d bytes", len(b))
						}
						e.proto, hasProto = b[0], true
						return nil
					})
				})
			})
		case ctaProtoinfo:
			ad.Do(func(b []byte) error {
				return ctNested(b, ctaProtoinfoTCP, func(b []byte) error {
					return ctNested(b, ctaProtoinfoTCPSt, func(b []byte) error {
						if len(b) != 1 {
							return fmt.Errorf("TCP state of %d bytes", len(b))
						}
						e.tcpState, e.hasTCP = b[0], true
						return nil
					})
				})
			})
		}
	}
	if err := ad.Err(); err != nil {
		return e, fmt.Errorf("ctnetlink: entry: %w", err)
	}
	if !hasStatus || !hasProto {
		return e, errors.New("ctnetlink: entry lacks its status or protocol")
	}
	return e, nil
}

// ctNested calls fn with the value of the attribute typ among b's
// attributes, if present.
func ctNested(b []byte, typ uint16, fn func([]byte) error) error {
	ad, err := ctAttributes(b)
	if err != nil {
		return err
	}
	for ad.Next() {
		if ad.Type() == typ {
			ad.Do(fn)
		}
	}
	return ad.Err()
}

// ctTimeouts are the timeouts (seconds) the kernel gives an unreplied entry
// at each packet, per namespace.
type ctTimeouts struct{ tcpSynSent, udp, icmp, icmpv6 uint32 }

// ctDefaultTimeouts are Linux's defaults, used where the sysctls cannot be
// read.
var ctDefaultTimeouts = ctTimeouts{tcpSynSent: 120, udp: 30, icmp: 30, icmpv6: 30}

// ctUnrepliedCounts is one namespace's unreplied entries by NAT and
// protocol.
type ctUnrepliedCounts struct {
	n         [len(ctNATNames)][len(ctProtoNames)]uint64
	truncated bool
}

// add counts e if it never saw a reply and has been idle long enough.
func (c *ctUnrepliedCounts) add(e ctEntry, to ctTimeouts) {
	if e.status&ipsSeenReply != 0 {
		return
	}
	proto, fresh := ctProtoOther, uint32(0)
	switch e.proto {
	case unix.IPPROTO_TCP:
		proto = ctProtoTCP
		if e.hasTCP && (e.tcpState == tcpConntrackSent || e.tcpState == tcpConntrackSent2) {
			fresh = to.tcpSynSent
		}
	case unix.IPPROTO_UDP, unix.IPPROTO_UDPLITE:
		proto, fresh = ctProtoUDP, to.udp
	case unix.IPPROTO_ICMP:
		proto, fresh = ctProtoICMP, to.icmp
	case unix.IPPROTO_ICMPV6:
		proto, fresh = ctProtoICMP, to.icmpv6
	}
	// remaining is rounded down to whole seconds, so fresh - remaining is
	// the idle time rounded up.
	if fresh != 0 && e.hasTimeout && int64(fresh)-int64(e.timeout) <= int64(ctUnrepliedIdle/time.Second) {
		return
	}
	nat := 0
	if e.status&ipsSrcNAT != 0 {
		nat |= 1
	}
	if e.status&ipsDstNAT != 0 {
		nat |= 2
	}
	c.n[nat][proto]++
}

func emitCTUnreplied(ns string, c ctUnrepliedCounts, ch chan<- prometheus.Metric) {
	for nat, row := range c.n {
		for proto, v := range row {
			conntrackUnreplied.Emit(ch, float64(v), ns, ctNATNames[nat], ctProtoNames[proto])
		}
	}
	trunc := 0.0
	if c.truncated {
		trunc = 1
	}
	conntrackUnrepliedTruncated.Emit(ch, trunc, ns)
}

// ctUnrepliedRequest is the dump request: every family, only entries whose
// IPS_SEEN_REPLY bit is clear.
func ctUnrepliedRequest(seq uint32) []byte {
	req := make([]byte, unix.NLMSG_HDRLEN+nfgenmsgLen, unix.NLMSG_HDRLEN+nfgenmsgLen+16)
	binary.NativeEndian.PutUint16(req[4:], unix.NFNL_SUBSYS_CTNETLINK<<8|ctMsgGet)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], seq)
	req[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC
	req[unix.NLMSG_HDRLEN+1] = unix.NFNETLINK_V0
	for _, a := range []struct {
		typ uint16
		v   uint32
	}{{ctaStatus, 0}, {ctaStatusMask, ipsSeenReply}} {
		attr := make([]byte, 8)
		binary.NativeEndian.PutUint16(attr[0:], 8)
		binary.NativeEndian.PutUint16(attr[2:], a.typ)
		binary.BigEndian.PutUint32(attr[4:], a.v)
		req = append(req, attr...)
	}
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	return req
}

// ctUnrepliedDump reads the unreplied entries of the calling thread's
// namespace, handing each entry's body to visit, until the dump ends or
// limit entries were read (then it reports truncated). The datagrams are
// read one at a time, never held together.
func ctUnrepliedDump(limit int, visit func(body []byte) error) (truncated bool, err error) {
	fd, err := ctnetlinkOpen()
	if err != nil {
		return false, err
	}
	// Closing the socket mid-dump is how a dump is abandoned: the kernel
	// frees its state with the socket.
	defer unix.Close(fd)
	if err := unix.Sendto(fd, ctUnrepliedRequest(3), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, fmt.Errorf("ctnetlink: %w", os.NewSyscallError("sendto", err))
	}
	bp := nlBufs.Get().(*[]byte)
	defer nlBufs.Put(bp)
	buf := *bp
	deadline := time.Now().Add(ctnetlinkTimeout)
	read := 0
	for {
		if time.Now().After(deadline) {
			return false, fmt.Errorf("ctnetlink: conntrack dump not complete within %v", ctnetlinkTimeout)
		}
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_TRUNC)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) {
				return false, fmt.Errorf("ctnetlink: conntrack dump stalled for %v", ctnetlinkTimeout)
			}
			return false, fmt.Errorf("ctnetlink: %w", os.NewSyscallError("recvfrom", err))
		}
		if n > len(buf) {
			return false, fmt.Errorf("ctnetlink: dump datagram of %d bytes exceeds the %d-byte buffer", n, len(buf))
		}
		r, err := ctDumpDatagram(buf[:n], limit-read, visit)
		read += r.count
		switch {
		case err != nil:
			return false, err
		case r.skipped:
			return true, nil
		case r.done:
			return false, nil
		case read >= limit:
			// More may follow; reading on to find out would cost what
			// the limit is there to bound.
			return true, nil
		}
	}
}

// ctDatagram is what one dump datagram held.
type ctDatagram struct {
	count   int  // entries handed to visit
	skipped bool // entries left out for lack of room
	done    bool // the dump ended
}

// ctDumpDatagram hands the entries of one dump datagram to visit, at most
// room of them. A kernel error ending the dump is returned as its errno.
func ctDumpDatagram(d []byte, room int, visit func(body []byte) error) (ctDatagram, error) {
	var r ctDatagram
	msgs, err := splitNetlink(d)
	if err != nil {
		return r, fmt.Errorf("ctnetlink: %w", err)
	}
	for _, m := range msgs {
		switch m.typ {
		case unix.NLMSG_DONE:
			r.done = true
			return r, nil
		case unix.NLMSG_ERROR:
			r.done = true
			errno, err := nlErrno(m.data)
			if err != nil {
				return r, err
			}
			if errno != 0 {
				return r, fmt.Errorf("ctnetlink refused the conntrack dump: %w", errno)
			}
			return r, nil
		case unix.NFNL_SUBSYS_CTNETLINK<<8 | ctMsgNew:
			if r.count >= room {
				r.skipped = true
				continue
			}
			if err := visit(m.data); err != nil {
				return r, err
			}
			r.count++
		default:
			return r, fmt.Errorf("netlink: unexpected message type %#x in a conntrack dump", m.typ)
		}
	}
	return r, nil
}

// readCTUnreplied counts the unreplied entries of the calling thread's
// namespace. procRoot locates the namespace's timeout sysctls.
func readCTUnreplied(procRoot string, limit int) (ctUnrepliedCounts, error) {
	var c ctUnrepliedCounts
	to := readCTTimeouts(procRoot)
	truncated, err := ctUnrepliedDump(limit, func(body []byte) error {
		e, err := decodeCTEntry(body)
		if err != nil {
			return err
		}
		c.add(e, to)
		return nil
	})
	c.truncated = truncated
	return c, err
}

// readCTTimeouts reads the namespace's timeouts for unreplied entries,
// keeping Linux's default for any it cannot read.
func readCTTimeouts(procRoot string) ctTimeouts {
	to := ctDefaultTimeouts
	for _, s := range []struct {
		name string
		dst  *uint32
	}{
		{"nf_conntrack_tcp_timeout_syn_sent", &to.tcpSynSent},
		{"nf_conntrack_udp_timeout", &to.udp},
		{"nf_conntrack_icmp_timeout", &to.icmp},
		{"nf_conntrack_icmpv6_timeout", &to.icmpv6},
	} {
		if v, err := readCTSysctl(procRoot, s.name); err == nil && v > 0 && v <= 1<<31 {
			*s.dst = uint32(v)
		}
	}
	return to
}
