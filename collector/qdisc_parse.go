package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/mdlayher/netlink"
)

// rtnetlink layouts the qdisc collector decodes (linux/rtnetlink.h,
// linux/pkt_sched.h, linux/gen_stats.h). golang.org/x/sys/unix lacks most
// of the traffic-control ones.
const (
	tcmsgLen     = 20 // struct tcmsg: family, pad, pad, ifindex, handle, parent, info
	ifinfomsgLen = 16 // struct ifinfomsg: family, pad, type, index, flags, change

	tcaKind   = 1 // TCA_KIND: qdisc kind, NUL-terminated
	tcaStats2 = 7 // TCA_STATS2: nested gnet_stats attributes

	tcaStatsBasic = 1 // struct gnet_stats_basic: u64 bytes, u32 packets
	tcaStatsQueue = 3 // struct gnet_stats_queue: u32 qlen, backlog, drops, requeues, overlimits
	tcaStatsPkt64 = 8 // u64 packets, sent when the packet count passed 2^32

	gnetStatsBasicLen = 12 // 16 with the tail padding of 64-bit ABIs
	gnetStatsQueueLen = 20

	iflaIfname = 3

	tcHRoot   = 0xFFFFFFFF // TC_H_ROOT
	tcHUnspec = 0          // TC_H_UNSPEC
)

// qdisc is one queueing discipline and its statistics, as the kernel
// reports it in an RTM_NEWQDISC message.
type qdisc struct {
	ifindex        int32
	kind           string
	handle, parent uint32

	bytes, packets uint64
	// gnet_stats_queue: qlen is packets queued now, backlog bytes queued
	// now; the others are 32-bit counters that wrap.
	qlen, backlog, drops, requeues, overlimits uint32
}

var errNoQdiscStats = errors.New("no TCA_STATS2 basic and queue statistics")

// parseQdisc decodes the payload of one RTM_NEWQDISC message (the bytes
// after the netlink header). Every qdisc the kernel dumps carries a kind
// and both statistics structures, so a message without them is malformed.
func parseQdisc(b []byte) (qdisc, error) {
	var q qdisc
	if len(b) < tcmsgLen {
		return q, fmt.Errorf("qdisc message: %d bytes, shorter than struct tcmsg (%d)", len(b), tcmsgLen)
	}
	q.ifindex = int32(binary.NativeEndian.Uint32(b[4:]))
	q.handle = binary.NativeEndian.Uint32(b[8:])
	q.parent = binary.NativeEndian.Uint32(b[12:])

	ad, err := netlink.NewAttributeDecoder(b[tcmsgLen:])
	if err != nil {
		return q, fmt.Errorf("qdisc message on ifindex %d: %w", q.ifindex, err)
	}
	var haveBasic, haveQueue, havePkt64 bool
	var pkt64 uint64
	for ad.Next() {
		switch ad.Type() {
		case tcaKind:
			q.kind = ad.String()
		case tcaStats2:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case tcaStatsBasic:
						nad.Do(func(d []byte) error {
							if len(d) < gnetStatsBasicLen {
								return fmt.Errorf("TCA_STATS_BASIC: %d bytes, want %d", len(d), gnetStatsBasicLen)
							}
							q.bytes = binary.NativeEndian.Uint64(d[0:])
							q.packets = uint64(binary.NativeEndian.Uint32(d[8:]))
							haveBasic = true
							return nil
						})
					case tcaStatsQueue:
						nad.Do(func(d []byte) error {
							if len(d) < gnetStatsQueueLen {
								return fmt.Errorf("TCA_STATS_QUEUE: %d bytes, want %d", len(d), gnetStatsQueueLen)
							}
							q.qlen = binary.NativeEndian.Uint32(d[0:])
							q.backlog = binary.NativeEndian.Uint32(d[4:])
							q.drops = binary.NativeEndian.Uint32(d[8:])
							q.requeues = binary.NativeEndian.Uint32(d[12:])
							q.overlimits = binary.NativeEndian.Uint32(d[16:])
							haveQueue = true
							return nil
						})
					case tcaStatsPkt64:
						pkt64 = nad.Uint64()
						havePkt64 = true
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return q, fmt.Errorf("qdisc message on ifindex %d: %w", q.ifindex, err)
	}
	if q.kind == "" || !utf8.ValidString(q.kind) {
		return q, fmt.Errorf("qdisc message on ifindex %d: no TCA_KIND, or not text", q.ifindex)
	}
	if !haveBasic || !haveQueue {
		return q, fmt.Errorf("qdisc %s on ifindex %d: %w", q.kind, q.ifindex, errNoQdiscStats)
	}
	if havePkt64 {
		q.packets = pkt64
	}
	return q, nil
}

// parseLinkName decodes the ifindex and name of one RTM_NEWLINK payload.
func parseLinkName(b []byte) (int32, string, error) {
	if len(b) < ifinfomsgLen {
		return 0, "", fmt.Errorf("link message: %d bytes, shorter than struct ifinfomsg (%d)", len(b), ifinfomsgLen)
	}
	index := int32(binary.NativeEndian.Uint32(b[4:]))
	ad, err := netlink.NewAttributeDecoder(b[ifinfomsgLen:])
	if err != nil {
		return index, "", fmt.Errorf("link message for ifindex %d: %w", index, err)
	}
	name := ""
	for ad.Next() {
		if ad.Type() == iflaIfname {
			name = ad.String()
		}
	}
	if err := ad.Err(); err != nil {
		return index, "", fmt.Errorf("link message for ifindex %d: %w", index, err)
	}
	if name == "" || !utf8.ValidString(name) {
		return index, "", fmt.Errorf("link message for ifindex %d: no IFLA_IFNAME, or not text", index)
	}
	return index, name, nil
}

// tcHandle formats a qdisc handle the way tc prints it: the major number in
// hex and a colon ("8001:", "0:" for the unnamed default qdiscs), with the
// minor only in the unusual case that it is set.
func tcHandle(h uint32) string {
	if h&0xFFFF == 0 {
		return fmt.Sprintf("%x:", h>>16)
	}
	return fmt.Sprintf("%x:%x", h>>16, h&0xFFFF)
}

// tcParent formats a parent class id the way tc does: "root", a class
// "1:10", a multiqueue slot ":3", or "ffff:fff1" for ingress and clsact.
func tcParent(p uint32) string {
	switch {
	case p == tcHRoot:
		return "root"
	case p == tcHUnspec:
		return "none"
	case p>>16 == 0:
		return fmt.Sprintf(":%x", p&0xFFFF)
	case p&0xFFFF == 0:
		return fmt.Sprintf("%x:", p>>16)
	default:
		return fmt.Sprintf("%x:%x", p>>16, p&0xFFFF)
	}
}
