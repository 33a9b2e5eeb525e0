package collector

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// routeTypes names the route types (RTN_*) as `ip route` does; the type
// label of netcause_ip_routes takes only these values and "other".
var routeTypes = [...]string{
	unix.RTN_UNICAST:     "unicast",
	unix.RTN_LOCAL:       "local",
	unix.RTN_BROADCAST:   "broadcast",
	unix.RTN_ANYCAST:     "anycast",
	unix.RTN_MULTICAST:   "multicast",
	unix.RTN_BLACKHOLE:   "blackhole",
	unix.RTN_UNREACHABLE: "unreachable",
	unix.RTN_PROHIBIT:    "prohibit",
	unix.RTN_THROW:       "throw",
	unix.RTN_NAT:         "nat",
}

// routeTypeOther covers RTN_UNSPEC, RTN_XRESOLVE and types a later kernel
// may add.
const routeTypeOther = "other"

func routeTypeName(t uint8) string {
	if int(t) < len(routeTypes) && routeTypes[t] != "" {
		return routeTypes[t]
	}
	return routeTypeOther
}

// discardRouteTypes are the types whose routes throw matching packets
// away: a blackhole silently, unreachable and prohibit with an ICMP error.
// They are always exported, 0 when absent, so a rule can see one appear.
var discardRouteTypes = []uint8{unix.RTN_BLACKHOLE, unix.RTN_UNREACHABLE, unix.RTN_PROHIBIT}

// routeFamilies are the families the route collector reports, in label
// order; a dump of every family also holds multicast routing (IPMR) and
// MPLS routes, which are not counted.
var routeFamilies = []struct {
	af   uint8
	name string
}{{unix.AF_INET, "ipv4"}, {unix.AF_INET6, "ipv6"}}

// routeFamilyStats is what one family's routes add up to.
type routeFamilyStats struct {
	// byType counts routes of all tables by RTN_* type.
	byType map[uint8]int
	// defaultRoute: some table holds a unicast route for prefix length 0.
	defaultRoute bool
}

// routeSummary is a namespace's route dump, by address family.
type routeSummary map[uint8]*routeFamilyStats

// parseRouteMessages counts the RTM_NEWROUTE message bodies of a route dump
// (struct rtmsg followed by RTA_* attributes) by family and type. A
// malformed message is left out and reported in the error, so the
// well-formed routes are still exported while the scrape shows the
// collector failed.
func parseRouteMessages(msgs [][]byte) (routeSummary, error) {
	s := routeSummary{}
	for _, f := range routeFamilies {
		s[f.af] = &routeFamilyStats{byType: map[uint8]int{}}
	}
	var first error
	bad := 0
	for _, m := range msgs {
		r, err := parseRouteMessage(m)
		if err != nil {
			if first == nil {
				first = err
			}
			bad++
			continue
		}
		fs, ok := s[r.family]
		// Cached clones (IPv6 exceptions such as a learnt path MTU) are
		// not routes anyone configured; dumps leave them out unless
		// asked, and a kernel that sends them anyway must not inflate
		// the counts.
		if !ok || r.flags&unix.RTM_F_CLONED != 0 {
			continue
		}
		fs.byType[r.typ]++
		if r.dstLen == 0 && r.typ == unix.RTN_UNICAST {
			fs.defaultRoute = true
		}
	}
	if first != nil {
		return s, fmt.Errorf("rtnetlink route dump: %d of %d messages malformed, first: %w", bad, len(msgs), first)
	}
	return s, nil
}

// routeMsg is what the collector reads of one route.
type routeMsg struct {
	family, dstLen, typ uint8
	table               uint32
	flags               uint32
}

var errShortRtmsg = errors.New("RTM_NEWROUTE shorter than struct rtmsg")

// parseRouteMessage decodes one RTM_NEWROUTE body. Only the header matters
// for counting, but the attributes are walked so a corrupt message is
// reported rather than counted.
func parseRouteMessage(b []byte) (routeMsg, error) {
	var r routeMsg
	if len(b) < unix.SizeofRtMsg {
		return r, errShortRtmsg
	}
	r.family, r.dstLen, r.typ = b[0], b[1], b[7]
	r.table = uint32(b[4])
	r.flags = binary.NativeEndian.Uint32(b[8:12])
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofRtMsg:])
	if err != nil {
		return r, fmt.Errorf("route: %w", err)
	}
	for ad.Next() {
		// Tables above 255 only fit in RTA_TABLE.
		if ad.Type() == unix.RTA_TABLE {
			r.table = ad.Uint32()
		}
	}
	if err := ad.Err(); err != nil {
		return r, fmt.Errorf("route (family %d, type %d, table %d): %w", r.family, r.typ, r.table, err)
	}
	return r, nil
}
