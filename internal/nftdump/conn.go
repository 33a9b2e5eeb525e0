package nftdump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Message types of the nf_tables netlink subsystem (linux/netfilter/nf_tables.h).
const (
	subsysNFTables = 10 // NFNL_SUBSYS_NFTABLES

	MsgNewChain = 3  // NFT_MSG_NEWCHAIN: one chain of a chain dump
	msgGetChain = 4  // NFT_MSG_GETCHAIN
	MsgNewRule  = 6  // NFT_MSG_NEWRULE: one rule of a rule dump
	msgGetRule  = 7  // NFT_MSG_GETRULE
	msgNewGen   = 15 // NFT_MSG_NEWGEN
	msgGetGen   = 16 // NFT_MSG_GETGEN
)

// Netlink constants not worth an import of their own.
const (
	nlmsgHdrLen  = 16
	nfgenHdrLen  = 4
	nlmDumpIntr  = 0x10 // NLM_F_DUMP_INTR: the dump saw a ruleset change
	recvBufBytes = 32 << 10
)

// ErrInterrupted means the ruleset changed while it was being dumped; the
// messages read so far may mix two generations, so the caller dumps again.
var ErrInterrupted = errors.New("nf_tables dump interrupted by a ruleset change")

// Conn is a netlink socket to nf_tables in the network namespace of the
// thread that opened it. It is not safe for concurrent use.
type Conn struct {
	fd       int
	seq      uint32
	buf      []byte // receive buffer
	req      []byte // request being sent, reused
	reqAttrs []byte
}

// Open opens the socket in the calling thread's network namespace; the
// socket stays there, so it may be used from any thread afterwards.
func Open() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("nf_tables netlink socket: %w", os.NewSyscallError("socket", err))
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nf_tables netlink socket: %w", os.NewSyscallError("bind", err))
	}
	// Only a strict reply matters: a dump that hit a full receive queue
	// would lose messages silently otherwise.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, 0)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	return &Conn{fd: fd, buf: make([]byte, recvBufBytes)}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// Generation returns the ruleset generation id, which changes with every
// committed ruleset change. Equal ids before and after a set of dumps mean
// the dumps saw one ruleset.
func (c *Conn) Generation() (uint32, error) {
	var gen uint32
	found := false
	err := c.request(msgGetGen, unix.AF_UNSPEC, 0, nil, func(typ uint16, payload []byte) error {
		if typ != subsysNFTables<<8|msgNewGen {
			return nil
		}
		g, err := ParseGeneration(payload)
		if err != nil {
			return err
		}
		gen, found = g, true
		return nil
	})
	if err == nil && !found {
		err = errors.New("nf_tables: no generation in reply")
	}
	return gen, err
}

// DumpChains calls fn with every chain message of family (AF_UNSPEC for all
// families). payload starts at the nfgenmsg header and is only valid during
// the call.
func (c *Conn) DumpChains(family uint8, fn func(payload []byte) error) error {
	return c.dump(msgGetChain, MsgNewChain, family, nil, fn)
}

// DumpRules calls fn with every rule message of one chain, as DumpChains.
//
// The kernel restarts a rule dump from the first rule of its scope for
// every 32 KiB it sends, so a dump of a whole table costs time quadratic in
// its rule count (0.3 s for 35k rules); one dump per chain keeps the
// restarts within a chain.
func (c *Conn) DumpRules(family uint8, table, chain []byte, fn func(payload []byte) error) error {
	attrs := c.reqAttrs[:0]
	attrs = appendStrAttr(attrs, attrRuleTable, table)
	attrs = appendStrAttr(attrs, attrRuleChain, chain)
	c.reqAttrs = attrs
	return c.dump(msgGetRule, MsgNewRule, family, attrs, fn)
}

func (c *Conn) dump(get, want uint16, family uint8, attrs []byte, fn func([]byte) error) error {
	return c.request(get, family, unix.NLM_F_DUMP, attrs, func(typ uint16, payload []byte) error {
		if typ != subsysNFTables<<8|want {
			return nil
		}
		return fn(payload)
	})
}

// appendStrAttr appends a NUL-terminated string attribute.
func appendStrAttr(b []byte, typ uint16, s []byte) []byte {
	l := 4 + len(s) + 1
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, s...)
	b = append(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// request sends one nf_tables request and hands every reply message to fn
// until the kernel says done (dump) or acknowledges (single request).
func (c *Conn) request(msg uint16, family uint8, flags uint16, attrs []byte, fn func(typ uint16, payload []byte) error) error {
	c.seq++
	req := append(c.req[:0], make([]byte, nlmsgHdrLen+nfgenHdrLen)...)
	req = append(req, attrs...)
	c.req = req
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], subsysNFTables<<8|msg)
	if flags&unix.NLM_F_DUMP == 0 {
		// A dump ends with NLMSG_DONE; a single request with its ack.
		flags |= unix.NLM_F_ACK
	}
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(req[8:], c.seq)
	req[16] = family
	req[17] = unix.NFNETLINK_V0
	if err := unix.Sendto(c.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto", err)
	}
	dump := flags&unix.NLM_F_DUMP != 0
	var cbErr error
	interrupted := false
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("recvfrom", err)
		}
		done, err := walkMessages(c.buf[:n], c.seq, func(typ, mflags uint16, payload []byte) error {
			if mflags&nlmDumpIntr != 0 {
				interrupted = true
			}
			if cbErr == nil {
				// Keep reading after a callback error so the socket is
				// left at a message boundary, ready for the next request.
				cbErr = fn(typ, payload)
			}
			return nil
		}, dump)
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	if cbErr != nil {
		return cbErr
	}
	if interrupted {
		return ErrInterrupted
	}
	return nil
}

// walkMessages splits one datagram into netlink messages of sequence seq.
// done reports the end of the reply: NLMSG_DONE for a dump, the
// acknowledgement (an error message with code 0) otherwise.
func walkMessages(b []byte, seq uint32, fn func(typ, flags uint16, payload []byte) error, dump bool) (done bool, err error) {
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return false, fmt.Errorf("netlink: %d trailing bytes, shorter than a header", len(b))
		}
		l := int(binary.NativeEndian.Uint32(b))
		typ := binary.NativeEndian.Uint16(b[4:])
		flags := binary.NativeEndian.Uint16(b[6:])
		mseq := binary.NativeEndian.Uint32(b[8:])
		if l < nlmsgHdrLen || l > len(b) {
			return false, fmt.Errorf("netlink: message length %d out of range (%d left)", l, len(b))
		}
		payload := b[nlmsgHdrLen:l]
		next := nlmAlign(l)
		if next > len(b) {
			next = len(b)
		}
		b = b[next:]
		if mseq != seq {
			continue // a late reply to an earlier, abandoned request
		}
		switch typ {
		case unix.NLMSG_DONE:
			if len(payload) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(payload)); e < 0 {
					return true, errnoError(e)
				}
			}
			return true, nil
		case unix.NLMSG_ERROR:
			if len(payload) < 4 {
				return false, errors.New("netlink: short error message")
			}
			if e := int32(binary.NativeEndian.Uint32(payload)); e < 0 {
				return true, errnoError(e)
			}
			if !dump {
				return true, nil
			}
			continue
		case unix.NLMSG_NOOP, unix.NLMSG_OVERRUN:
			continue
		}
		if err := fn(typ, flags, payload); err != nil {
			return false, err
		}
	}
	return false, nil
}

func errnoError(e int32) error {
	return os.NewSyscallError("nf_tables netlink", syscall.Errno(-e))
}

func nlmAlign(n int) int { return (n + 3) &^ 3 }
