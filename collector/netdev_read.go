package collector

import (
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// linkDumpSkipStats (RTEXT_FILTER_SKIP_STATS, Linux 4.6) leaves the
// statistics out of a link dump; the ethtool collector needs names only.
const linkDumpSkipStats = 1 << 3

// dumpLinkMessages asks rtnetlink for every interface of the calling
// thread's network namespace and returns the RTM_NEWLINK message bodies.
// The socket is opened on the calling thread, which the exporter has moved
// into the target namespace.
func dumpLinkMessages(skipStats bool) ([][]byte, error) {
	req := make([]byte, unix.SizeofIfInfomsg) // family AF_UNSPEC: every interface
	if skipStats {
		ae := netlink.NewAttributeEncoder()
		ae.Uint32(unix.IFLA_EXT_MASK, linkDumpSkipStats)
		attrs, err := ae.Encode()
		if err != nil {
			return nil, err
		}
		req = append(req, attrs...)
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	defer c.Close()
	// An interface added or removed during the dump makes the kernel flag
	// it inconsistent (it may miss or repeat one); containers starting and
	// stopping make that common enough to retry.
	for attempt := 1; ; attempt++ {
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request | netlink.Dump},
			Data:   req,
		})
		if err != nil {
			return nil, fmt.Errorf("rtnetlink link dump: %w", err)
		}
		out := make([][]byte, 0, len(msgs))
		interrupted := false
		for _, m := range msgs {
			interrupted = interrupted || m.Header.Flags&netlink.DumpInterrupted != 0
			if m.Header.Type == unix.RTM_NEWLINK {
				out = append(out, m.Data)
			}
		}
		if !interrupted {
			return out, nil
		}
		if attempt == 3 {
			return nil, fmt.Errorf("rtnetlink link dump: interrupted by interface changes %d times in a row", attempt)
		}
	}
}

// readLinks dumps and parses every interface of the calling thread's
// namespace; with an error it may still return the well-formed ones. A
// kernel that ignores skipStats just sends them.
func readLinks(skipStats bool) ([]netdevLink, error) {
	msgs, err := dumpLinkMessages(skipStats)
	if err != nil {
		return nil, err
	}
	return parseLinkMessages(msgs)
}

// parseLinkMessages parses a dump. A malformed message is left out and
// reported in the error, so the well-formed interfaces are still exported
// while the scrape shows the collector failed.
func parseLinkMessages(msgs [][]byte) ([]netdevLink, error) {
	links := make([]netdevLink, 0, len(msgs))
	seen := make(map[uint32]bool, len(msgs))
	var first error
	bad := 0
	for _, m := range msgs {
		l, err := parseLinkMessage(m)
		if err != nil {
			if first == nil {
				first = err
			}
			bad++
			continue
		}
		// One interface twice would be a duplicate series, which fails
		// the whole scrape's consistency check.
		if seen[l.Index] {
			continue
		}
		seen[l.Index] = true
		links = append(links, l)
	}
	if first != nil {
		return links, fmt.Errorf("rtnetlink link dump: %d of %d messages malformed, first: %w", bad, len(msgs), first)
	}
	return links, nil
}
