package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// netdevLink is what the netdev collector needs from one RTM_NEWLINK
// message.
type netdevLink struct {
	Index     uint32
	Name      string
	MTU       uint32
	HasMTU    bool
	OperState uint8  // IF_OPER_* (RFC 2863)
	Kind      string // IFLA_INFO_KIND: veth, bridge, vxlan…; "" for a physical NIC
	// CarrierChanges is IFLA_CARRIER_CHANGES, absent before Linux 3.16.
	CarrierChanges    uint32
	HasCarrierChanges bool
	// Stats is IFLA_STATS64, nil when the kernel sent none.
	Stats *linkStats64
	// Link is IFLA_LINK, the index of the interface this one is tied to:
	// a veth's peer, a VLAN's lower device. It is an index in the
	// namespace LinkNetNSID names, or in this one when HasLinkNetNSID is
	// false.
	Link           uint32
	LinkNetNSID    int32
	HasLinkNetNSID bool
	// Master is IFLA_MASTER: the bridge (or bond, VRF) this interface is
	// a port of; 0 for none.
	Master uint32
	// TargetNetNSID is IFLA_TARGET_NETNSID, which the kernel echoes in a
	// reply about another namespace's interface; -1 when absent.
	TargetNetNSID int32
}

// Indexes into linkStats64, in the order of struct rtnl_link_stats64
// (include/uapi/linux/if_link.h). The kernel only ever appends fields.
const (
	stRxPackets = iota
	stTxPackets
	stRxBytes
	stTxBytes
	stRxErrors
	stTxErrors
	stRxDropped
	stTxDropped
	stMulticast
	stCollisions
	stRxLengthErrors
	stRxOverErrors
	stRxCRCErrors
	stRxFrameErrors
	stRxFIFOErrors
	stRxMissedErrors
	stTxAbortedErrors
	stTxCarrierErrors
	stTxFIFOErrors
	stTxHeartbeatErrors
	stTxWindowErrors
	// stNeeded is how many leading fields the collector reads; every
	// kernel with IFLA_STATS64 (2.6.35+) sends at least these.
	stNeeded
)

type linkStats64 [stNeeded]uint64

// operStates names IF_OPER_* values as `ip link` does, lower-cased; the
// netcause_network_info operstate label takes only these values.
var operStates = [...]string{"unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"}

const ifOperUp = 6

func operStateName(s uint8) string {
	if int(s) < len(operStates) {
		return operStates[s]
	}
	return "unknown"
}

var errShortIfinfomsg = errors.New("RTM_NEWLINK shorter than struct ifinfomsg")

// parseLinkMessage decodes the body of one RTM_NEWLINK message (struct
// ifinfomsg followed by IFLA_* attributes).
//
// jsimonetti/rtnetlink decodes the same message, but v2.0.2 rejects an
// IFLA_STATS64 of any size but 184, 192 or 200 bytes (one appended kernel
// field would fail the whole dump) and drops attribute decoding errors;
// this reads the fields it needs by offset and reports malformed input.
func parseLinkMessage(b []byte) (netdevLink, error) {
	l := netdevLink{TargetNetNSID: -1}
	if len(b) < unix.SizeofIfInfomsg {
		return l, errShortIfinfomsg
	}
	l.Index = binary.NativeEndian.Uint32(b[4:8])
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofIfInfomsg:])
	if err != nil {
		return l, fmt.Errorf("interface index %d: %w", l.Index, err)
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.IFLA_IFNAME:
			l.Name = strings.ToValidUTF8(ad.String(), "\uFFFD")
		case unix.IFLA_MTU:
			l.MTU, l.HasMTU = ad.Uint32(), true
		case unix.IFLA_OPERSTATE:
			l.OperState = ad.Uint8()
		case unix.IFLA_CARRIER_CHANGES:
			l.CarrierChanges, l.HasCarrierChanges = ad.Uint32(), true
		case unix.IFLA_LINK:
			l.Link = ad.Uint32()
		case unix.IFLA_LINK_NETNSID:
			l.LinkNetNSID, l.HasLinkNetNSID = ad.Int32(), true
		case unix.IFLA_MASTER:
			l.Master = ad.Uint32()
		case unix.IFLA_TARGET_NETNSID:
			l.TargetNetNSID = ad.Int32()
		case unix.IFLA_LINKINFO:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() == unix.IFLA_INFO_KIND {
						l.Kind = strings.ToValidUTF8(nad.String(), "\uFFFD")
					}
				}
				return nil
			})
		case unix.IFLA_STATS64:
			ad.Do(func(b []byte) error {
				s, err := parseLinkStats64(b)
				l.Stats = s
				return err
			})
		}
	}
	if err := ad.Err(); err != nil {
		return l, fmt.Errorf("interface index %d: %w", l.Index, err)
	}
	if l.Name == "" {
		return l, fmt.Errorf("interface index %d: no IFLA_IFNAME", l.Index)
	}
	return l, nil
}

// parseLinkStats64 reads struct rtnl_link_stats64, accepting any length
// that holds the fields netcause exports so that later kernels' appended
// fields do not break it.
func parseLinkStats64(b []byte) (*linkStats64, error) {
	if len(b) < stNeeded*8 {
		return nil, fmt.Errorf("IFLA_STATS64 is %d bytes, want at least %d", len(b), stNeeded*8)
	}
	var s linkStats64
	for i := range s {
		s[i] = binary.NativeEndian.Uint64(b[i*8:])
	}
	return &s, nil
}
