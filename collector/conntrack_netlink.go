package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The conntrack statistics come from ctnetlink, the netfilter netlink
// subsystem, on a socket opened by the calling thread (so inside the target
// namespace). It works on kernels built without CONFIG_NF_CONNTRACK_PROCFS.
//
// Why not github.com/ti-mo/conntrack (Conn.Stats, Conn.StatsGlobal):
//   - its Stats struct has no clash_resolve and chain_toolong, which this
//     kernel (6.18) sends as attributes 14 and 15;
//   - its decoder panics on an attribute of the wrong length
//     (netfilter.Attribute.Uint32), where a collector must return an error;
//   - StatsGlobal never returns with github.com/mdlayher/netlink v1.11.2,
//     the version this module needs for mdlayher/ethtool: the kernel answers
//     IPCTNL_MSG_CT_GET_STATS with one NLM_F_MULTI message and an ACK but no
//     NLMSG_DONE, and that netlink version keeps reading for more parts
//     (mdlayher/netlink pull request 315, open).
// So the reader below sends the two requests itself and returns the reply
// bytes exactly as the kernel wrote them (the fixtures are such bytes); the
// pure functions decodeCTStatsCPU and decodeCTStatsGlobal interpret them,
// using mdlayher/netlink's attribute decoder.

// ctnetlink message types and attributes (linux/netfilter/nfnetlink_conntrack.h).
const (
	ctMsgGetStatsCPU = 4 // IPCTNL_MSG_CT_GET_STATS_CPU: one message per possible CPU
	ctMsgGetStats    = 5 // IPCTNL_MSG_CT_GET_STATS: entries and limit of the namespace

	ctaStatsGlobalEntries    = 1 // CTA_STATS_GLOBAL_ENTRIES
	ctaStatsGlobalMaxEntries = 2 // CTA_STATS_GLOBAL_MAX_ENTRIES (Linux 4.18)

	nfgenmsgLen = 4 // struct nfgenmsg: family, version, res_id (big endian)
)

// ctnetlinkTimeout bounds one query; the kernel answers in microseconds.
const ctnetlinkTimeout = 2 * time.Second

// ctnetlinkMaxReads bounds the datagrams read for one reply: one datagram
// holds the statistics of about 300 CPUs, so this allows far more CPUs than
// Linux supports.
const ctnetlinkMaxReads = 1024

// ctnetlinkRead opens a netfilter netlink socket in the calling thread's
// network namespace and returns the raw replies to IPCTNL_MSG_CT_GET_STATS
// and IPCTNL_MSG_CT_GET_STATS_CPU.
func ctnetlinkRead() (global, perCPU []byte, err error) {
	fd, err := ctnetlinkOpen()
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(fd)
	return ctnetlinkStats(fd)
}

// ctnetlinkSocket is a ctnetlink socket kept open between scrapes of the
// exporter's own namespace: opening, binding and closing one is 5 us of a
// 16 us read. Other namespaces get a socket per scrape, because a socket
// held open keeps its namespace alive after the container that made it
// has gone.
type ctnetlinkSocket struct {
	mu sync.Mutex // overlapping scrapes must not interleave their queries
	fd int        // -1 when closed
}

func (s *ctnetlinkSocket) read() (global, perCPU []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		if s.fd, err = ctnetlinkOpen(); err != nil {
			s.fd = -1
			return nil, nil, err
		}
	}
	if global, perCPU, err = ctnetlinkStats(s.fd); err != nil {
		// What is left unread of a failed query would be taken for the
		// next one's reply: start over on a fresh socket.
		unix.Close(s.fd)
		s.fd = -1
	}
	return global, perCPU, err
}

func ctnetlinkOpen() (int, error) {
	// EPROTONOSUPPORT from socket: nfnetlink is not in this kernel.
	fd, err := nlOpen(unix.NETLINK_NETFILTER, ctnetlinkTimeout)
	if err != nil {
		return -1, fmt.Errorf("netfilter netlink: %w", err)
	}
	return fd, nil
}

func ctnetlinkStats(fd int) (global, perCPU []byte, err error) {
	// GET_STATS is not a dump: without NLM_F_ACK nothing would mark the end
	// of its reply.
	if global, err = ctnetlinkQuery(fd, ctMsgGetStats, unix.NLM_F_REQUEST|unix.NLM_F_ACK, 1); err != nil {
		return nil, nil, err
	}
	if perCPU, err = ctnetlinkQuery(fd, ctMsgGetStatsCPU, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, 2); err != nil {
		return nil, nil, err
	}
	return global, perCPU, nil
}

// ctnetlinkQuery sends one ctnetlink request (an nfgenmsg and no
// attributes) and returns the reply datagrams concatenated, uninterpreted.
func ctnetlinkQuery(fd int, msgType uint8, flags uint16, seq uint32) ([]byte, error) {
	body := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0} // struct nfgenmsg
	req := nlRequest(unix.NFNL_SUBSYS_CTNETLINK<<8|uint16(msgType), flags, seq, body)
	bp := nlBufs.Get().(*[]byte)
	defer nlBufs.Put(bp)
	reply, err := nlQuery(fd, req, *bp, ctnetlinkTimeout, ctnetlinkMaxReads)
	if err != nil {
		return nil, fmt.Errorf("ctnetlink: %w", err)
	}
	return reply, nil
}

// ctReplyBodies returns the nfgenmsg+attribute payloads of the messages of
// type msgType in a complete ctnetlink reply. A kernel error in the reply
// is returned as its errno, so collector.Reason can classify it
// (EPERM: no CAP_NET_ADMIN; EINVAL: ctnetlink not registered).
func ctReplyBodies(reply []byte, msgType uint8) ([][]byte, error) {
	msgs, err := splitNetlink(reply)
	if err != nil {
		return nil, err
	}
	want := uint16(unix.NFNL_SUBSYS_CTNETLINK)<<8 | uint16(msgType)
	var bodies [][]byte
	for _, m := range msgs {
		switch m.typ {
		case unix.NLMSG_DONE:
			return bodies, nil
		case unix.NLMSG_ERROR:
			if len(m.data) < 4 {
				return nil, fmt.Errorf("netlink: error message of %d bytes", len(m.data))
			}
			errno := -int32(binary.NativeEndian.Uint32(m.data))
			if errno == 0 { // the ACK
				return bodies, nil
			}
			if errno < 0 {
				return nil, fmt.Errorf("netlink: error message with positive code %d", -errno)
			}
			e := syscall.Errno(errno)
			if e == syscall.EINVAL {
				return nil, fmt.Errorf("ctnetlink refused the request: %w (conntrack netlink not available: nf_conntrack_netlink not loaded?)", e)
			}
			return nil, fmt.Errorf("ctnetlink refused the request: %w", e)
		case want:
			bodies = append(bodies, m.data)
		default:
			return nil, fmt.Errorf("netlink: unexpected message type %#x in a ctnetlink reply", m.typ)
		}
	}
	return nil, errors.New("netlink: reply ends without NLMSG_DONE or ACK")
}

// decodeCTStatsCPU turns the reply to IPCTNL_MSG_CT_GET_STATS_CPU into one
// ctCPUStats per CPU. Attributes this kernel no longer fills (searched,
// new, ignore, delete, delete_list) and unknown ones are skipped.
func decodeCTStatsCPU(reply []byte) ([]ctCPUStats, error) {
	bodies, err := ctReplyBodies(reply, ctMsgGetStatsCPU)
	if err != nil {
		return nil, err
	}
	if len(bodies) == 0 {
		return nil, errors.New("ctnetlink: per-CPU statistics reply holds no CPU")
	}
	out := make([]ctCPUStats, 0, len(bodies))
	seen := make(map[int]bool, len(bodies))
	for _, b := range bodies {
		if len(b) < nfgenmsgLen {
			return nil, fmt.Errorf("ctnetlink: per-CPU message of %d bytes has no nfgenmsg", len(b))
		}
		// res_id carries the CPU number, in network byte order.
		s := ctCPUStats{cpu: int(binary.BigEndian.Uint16(b[2:4]))}
		if seen[s.cpu] {
			return nil, fmt.Errorf("ctnetlink: CPU %d reported twice", s.cpu)
		}
		seen[s.cpu] = true
		ad, err := ctAttributes(b[nfgenmsgLen:])
		if err != nil {
			return nil, fmt.Errorf("ctnetlink: CPU %d: %w", s.cpu, err)
		}
		for ad.Next() {
			i, ok := ctStatByAttr[ad.Type()]
			if !ok {
				continue
			}
			s.set(i, uint64(ad.Uint32()))
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("ctnetlink: CPU %d: %w", s.cpu, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// ctGlobalStats is the reply to IPCTNL_MSG_CT_GET_STATS.
type ctGlobalStats struct {
	entries  uint64
	limit    uint64
	hasLimit bool // kernels before 4.18 do not send the limit
}

// decodeCTStatsGlobal turns the reply to IPCTNL_MSG_CT_GET_STATS into the
// namespace's entry count and the limit.
func decodeCTStatsGlobal(reply []byte) (ctGlobalStats, error) {
	var g ctGlobalStats
	bodies, err := ctReplyBodies(reply, ctMsgGetStats)
	if err != nil {
		return g, err
	}
	if len(bodies) != 1 {
		return g, fmt.Errorf("ctnetlink: want one statistics message, got %d", len(bodies))
	}
	if len(bodies[0]) < nfgenmsgLen {
		return g, fmt.Errorf("ctnetlink: statistics message of %d bytes has no nfgenmsg", len(bodies[0]))
	}
	ad, err := ctAttributes(bodies[0][nfgenmsgLen:])
	if err != nil {
		return g, fmt.Errorf("ctnetlink: %w", err)
	}
	hasEntries := false
	for ad.Next() {
		switch ad.Type() {
		case ctaStatsGlobalEntries:
			g.entries, hasEntries = uint64(ad.Uint32()), true
		case ctaStatsGlobalMaxEntries:
			g.limit, g.hasLimit = uint64(ad.Uint32()), true
		}
	}
	if err := ad.Err(); err != nil {
		return g, fmt.Errorf("ctnetlink: %w", err)
	}
	if !hasEntries {
		return g, errors.New("ctnetlink: statistics message lacks the entry count")
	}
	return g, nil
}

// ctAttributes decodes netfilter attributes, whose values are big endian.
func ctAttributes(b []byte) (*netlink.AttributeDecoder, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = binary.BigEndian
	return ad, nil
}
