package collector

import (
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// linkDumpSkipStats (RTEXT_FILTER_SKIP_STATS, Linux 4.6) leaves the
// statistics out of a link dump; the ethtool collector needs names only.
const linkDumpSkipStats = 1 << 3

// rtnetlink dumps are bounded in time and datagrams; a 32 KiB datagram
// holds a dozen interfaces or more.
const (
	rtnetlinkTimeout  = 5 * time.Second
	rtnetlinkMaxReads = 1 << 16
)

// dumpLinkMessages asks rtnetlink for every interface of the calling
// thread's network namespace and returns the RTM_NEWLINK message bodies.
// The socket is opened on the calling thread, which the exporter has moved
// into the target namespace.
func dumpLinkMessages(skipStats bool) ([][]byte, error) {
	body := make([]byte, unix.SizeofIfInfomsg) // family AF_UNSPEC: every interface
	if skipStats {
		ae := netlink.NewAttributeEncoder()
		ae.Uint32(unix.IFLA_EXT_MASK, linkDumpSkipStats)
		attrs, err := ae.Encode()
		if err != nil {
			return nil, err
		}
		body = append(body, attrs...)
	}
	fd, err := nlOpen(unix.NETLINK_ROUTE, rtnetlinkTimeout)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	defer func() { unix.Close(fd) }() // fd is replaced on a retry
	bp := nlBufs.Get().(*[]byte)
	defer nlBufs.Put(bp)
	buf := *bp
	// An interface added or removed during the dump makes the kernel flag
	// it inconsistent (it may miss or repeat one); containers starting and
	// stopping make that common enough to retry. A link message too big
	// for the buffer (hundreds of SR-IOV VFs) is retried with a bigger one.
	for attempt := uint32(1); ; attempt++ {
		req := nlRequest(unix.RTM_GETLINK, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, attempt, body)
		reply, err := nlQuery(fd, req, buf, rtnetlinkTimeout, rtnetlinkMaxReads)
		var trunc *nlTruncatedError
		if errors.As(err, &trunc) && attempt < 3 {
			// The rest of the dump is still queued: a new socket drops it.
			unix.Close(fd)
			if fd, err = nlOpen(unix.NETLINK_ROUTE, rtnetlinkTimeout); err != nil {
				return nil, fmt.Errorf("rtnetlink: %w", err)
			}
			buf = make([]byte, 2*trunc.Size)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rtnetlink link dump: %w", err)
		}
		out, interrupted, err := linkDumpBodies(reply)
		if err != nil {
			return nil, fmt.Errorf("rtnetlink link dump: %w", err)
		}
		if !interrupted {
			return out, nil
		}
		if attempt == 3 {
			return nil, fmt.Errorf("rtnetlink link dump: interrupted by interface changes %d times in a row", attempt)
		}
	}
}

// linkDumpBodies returns the RTM_NEWLINK bodies of a complete dump reply
// and whether the kernel flagged the dump inconsistent. A kernel error in
// the reply is returned as its errno.
func linkDumpBodies(reply []byte) (bodies [][]byte, interrupted bool, err error) {
	msgs, err := splitNetlink(reply)
	if err != nil {
		return nil, false, err
	}
	for _, m := range msgs {
		interrupted = interrupted || m.flags&unix.NLM_F_DUMP_INTR != 0
		switch m.typ {
		case unix.RTM_NEWLINK:
			bodies = append(bodies, m.data)
		case unix.NLMSG_ERROR, unix.NLMSG_DONE:
			if errno, err := nlErrno(m.data); err != nil {
				return nil, false, err
			} else if errno != 0 {
				return nil, false, errno
			}
		}
	}
	return bodies, interrupted, nil
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
