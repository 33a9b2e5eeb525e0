package collector

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/netcause/netcause/internal/catalog"
)

// The MTU of an interface's other end, so a rule can compare the two ends
// of one link: a 1400-byte veth whose peer sends 1500-byte packets drops
// them, although both values look normal on their own.
//
// Design: the netdev collector resolves the peer itself rather than
// exporting link indexes and namespace ids for PromQL to join. A veth's
// RTM_NEWLINK carries its peer's index (IFLA_LINK) and, when the peer is
// in another namespace, that namespace's id as this namespace numbers it
// (IFLA_LINK_NETNSID). Namespace ids are local to the namespace that
// assigned them, so a join would need every pair of namespaces' ids and
// would fail for peers in namespaces the exporter does not read (a
// container's host side when the host is not a target, or the reverse).
// Instead the collector asks the kernel for the peer directly: RTM_GETLINK
// with the peer's index and IFLA_TARGET_NETNSID (Linux 4.15) answers from
// the peer's namespace, one request per cross-namespace peer, on a socket
// inside the target namespace. A peer in the same namespace, and a bridge
// port's bridge (IFLA_MASTER, always in the same namespace), come from the
// dump the collector already made.
//
// Only veth peers and bridge masters are compared. Other IFLA_LINK users
// (VLAN, macvlan, tunnels) point at a lower device whose MTU is higher by
// design; bond slaves always share the bond's MTU, and a VRF's MTU is not a
// limit of its ports.

var netPeerMTU = gauge("network", "peer_mtu_bytes",
	"MTU of the interface's other end: peer=\"veth\" is the other end of a veth pair (in this or another namespace), "+
		"peer=\"bridge\" the bridge the interface is a port of. A frame larger than the receiving end's MTU is dropped, "+
		"so an interface whose MTU is below its peer's loses the peer's full-size packets. Absent when there is no such peer "+
		"or it could not be read (it vanished, or the kernel predates Linux 4.15).",
	"device", "peer").Reveals(catalog.MTU)

// Values of netcause_network_peer_mtu_bytes' peer label.
const (
	peerVeth   = "veth"
	peerBridge = "bridge"
)

// peerRef names an interface in the namespace nsid (as the target
// namespace numbers it); nsid -1 is the target namespace itself.
type peerRef struct {
	nsid  int32
	index uint32
}

// linkPeer is one peer relation of an interface.
type linkPeer struct {
	device, kind string
	ref          peerRef
}

// linkPeers lists the peers to compare each interface with.
func linkPeers(links []netdevLink) []linkPeer {
	byIndex := make(map[uint32]*netdevLink, len(links))
	for i := range links {
		byIndex[links[i].Index] = &links[i]
	}
	var out []linkPeer
	for _, l := range links {
		if l.Kind == "veth" && l.Link != 0 {
			ref := peerRef{nsid: -1, index: l.Link}
			if l.HasLinkNetNSID {
				if l.LinkNetNSID < 0 { // NETNSA_NSID_NOT_ASSIGNED
					continue
				}
				ref.nsid = l.LinkNetNSID
			}
			out = append(out, linkPeer{device: l.Name, kind: peerVeth, ref: ref})
		}
		if m := byIndex[l.Master]; l.Master != 0 && m != nil && m.Kind == "bridge" {
			out = append(out, linkPeer{device: l.Name, kind: peerBridge, ref: peerRef{nsid: -1, index: l.Master}})
		}
	}
	return out
}

// peerMTU is one netcause_network_peer_mtu_bytes sample.
type peerMTU struct {
	device, kind string
	mtu          uint32
}

// resolvePeerMTUs looks each peer up among the namespace's own links or
// the replies about other namespaces' (remote); unknown peers are left out.
func resolvePeerMTUs(links []netdevLink, peers []linkPeer, remote map[peerRef]netdevLink) []peerMTU {
	local := make(map[uint32]netdevLink, len(links))
	for _, l := range links {
		local[l.Index] = l
	}
	var out []peerMTU
	for _, p := range peers {
		var l netdevLink
		var ok bool
		if p.ref.nsid < 0 {
			l, ok = local[p.ref.index]
		} else {
			l, ok = remote[p.ref]
		}
		if ok && l.HasMTU {
			out = append(out, peerMTU{device: p.device, kind: p.kind, mtu: l.MTU})
		}
	}
	return out
}

func emitPeerMTUs(ns string, peers []peerMTU, ch chan<- prometheus.Metric) {
	for _, p := range peers {
		netPeerMTU.Emit(ch, float64(p.mtu), ns, p.device, p.kind)
	}
}

// readRemoteLinks asks the kernel, from the calling thread's namespace,
// for each interface refs names in another namespace. A peer that vanished
// between the dump and the request (its namespace or interface deleted) is
// left out; other failures are joined into the error.
func readRemoteLinks(refs []peerRef) (map[peerRef]netdevLink, error) {
	out := map[peerRef]netdevLink{}
	if len(refs) == 0 {
		return out, nil
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return out, fmt.Errorf("rtnetlink: %w", err)
	}
	defer c.Close()
	var errs []error
	for _, ref := range refs {
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request},
			Data:   remoteLinkRequest(ref),
		})
		if err != nil {
			// ENODEV: the interface is gone; EINVAL: so is the namespace
			// id (get_net_ns_by_id found nothing).
			if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) {
				continue
			}
			errs = append(errs, fmt.Errorf("rtnetlink: interface %d of namespace id %d: %w", ref.index, ref.nsid, err))
			if len(errs) == 3 { // the same refusal (EPERM) for every peer
				break
			}
			continue
		}
		if l, ok := remoteLinkReply(ref, msgs); ok {
			out[ref] = l
		}
	}
	return out, errors.Join(errs...)
}

// remoteLinkRequest is the body of RTM_GETLINK for one interface of
// another namespace, statistics left out.
func remoteLinkRequest(ref peerRef) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:8], ref.index)
	ae := netlink.NewAttributeEncoder()
	ae.Int32(unix.IFLA_TARGET_NETNSID, ref.nsid)
	ae.Uint32(unix.IFLA_EXT_MASK, linkDumpSkipStats)
	attrs, _ := ae.Encode() // fixed, well-formed attributes: no error
	return append(b, attrs...)
}

// remoteLinkReply picks the answer to remoteLinkRequest. A kernel before
// 4.15 ignores IFLA_TARGET_NETNSID and answers about the interface with
// the same index in its own namespace; only a reply that echoes the target
// id is about the peer.
func remoteLinkReply(ref peerRef, msgs []netlink.Message) (netdevLink, bool) {
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK {
			continue
		}
		l, err := parseLinkMessage(m.Data)
		if err != nil || l.Index != ref.index || l.TargetNetNSID != ref.nsid {
			continue
		}
		return l, true
	}
	return netdevLink{}, false
}

// remoteRefs lists the peers that live in other namespaces, once each.
func remoteRefs(peers []linkPeer) []peerRef {
	var out []peerRef
	seen := map[peerRef]bool{}
	for _, p := range peers {
		if p.ref.nsid >= 0 && !seen[p.ref] {
			seen[p.ref] = true
			out = append(out, p.ref)
		}
	}
	return out
}
