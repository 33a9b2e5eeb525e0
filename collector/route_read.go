package collector

import (
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// dumpRouteMessages asks rtnetlink for every route of every table of the
// calling thread's network namespace and returns the RTM_NEWROUTE bodies.
// One AF_UNSPEC request makes the kernel dump each family in turn (IPv4,
// IPv6, and multicast routing and MPLS, which the parser skips); a kernel
// without IPv6 simply sends no IPv6 routes.
func dumpRouteMessages() ([][]byte, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	defer c.Close()
	req := make([]byte, unix.SizeofRtMsg) // family AF_UNSPEC, table 0: all tables
	// Routes added or removed during the dump make the kernel flag it
	// inconsistent; a routing daemon converging makes that common enough
	// to retry, as for the link dump.
	for attempt := 1; ; attempt++ {
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.RTM_GETROUTE, Flags: netlink.Request | netlink.Dump},
			Data:   req,
		})
		if err != nil {
			return nil, fmt.Errorf("rtnetlink route dump: %w", err)
		}
		out := make([][]byte, 0, len(msgs))
		interrupted := false
		for _, m := range msgs {
			interrupted = interrupted || m.Header.Flags&netlink.DumpInterrupted != 0
			if m.Header.Type == unix.RTM_NEWROUTE {
				out = append(out, m.Data)
			}
		}
		if !interrupted {
			return out, nil
		}
		if attempt == 3 {
			return nil, fmt.Errorf("rtnetlink route dump: interrupted by route changes %d times in a row", attempt)
		}
	}
}
