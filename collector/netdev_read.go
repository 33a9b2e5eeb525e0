package collector

import (
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// dumpLinkMessages asks rtnetlink for every interface of the calling
// thread's network namespace and returns the RTM_NEWLINK message bodies.
// The socket is opened on the calling thread, which the exporter has moved
// into the target namespace.
func dumpLinkMessages() ([][]byte, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request | netlink.Dump},
		// struct ifinfomsg with family AF_UNSPEC: every interface.
		Data: make([]byte, unix.SizeofIfInfomsg),
	})
	if err != nil {
		return nil, fmt.Errorf("rtnetlink link dump: %w", err)
	}
	out := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		if m.Header.Type == unix.RTM_NEWLINK {
			out = append(out, m.Data)
		}
	}
	return out, nil
}

// readLinks dumps and parses every interface of the calling thread's
// namespace; with an error it may still return the well-formed ones.
func readLinks() ([]netdevLink, error) {
	msgs, err := dumpLinkMessages()
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
		links = append(links, l)
	}
	if first != nil {
		return links, fmt.Errorf("rtnetlink link dump: %d of %d messages malformed, first: %w", bad, len(msgs), first)
	}
	return links, nil
}
