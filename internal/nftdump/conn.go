// Package nftdump reads nf_tables chains and rules over netlink (the
// tables iptables-nft writes and native nftables ones alike) and decodes
// only what the firewall collector needs: a rule's verdict, the counter
// that counts it, its comment, a hash of its expressions, and on demand
// its text. It needs CAP_NET_ADMIN in the namespace's user namespace.
//
// Decoding walks the kernel's messages in place, without building an
// expression tree: a collection of 50k rules reads every rule, and
// google/nftables' full decode allocates hundreds of megabytes for that.
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

	// The running dump: what is left of the last datagram, the current
	// message, and how the dump ended. An iterator rather than a callback
	// per dump: a collection dumps every chain, tens of thousands of
	// times, and a callback closure would be allocated each time.
	inDump      bool
	want        uint16
	pending     []byte
	payload     []byte
	interrupted bool
	err         error
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
	err := c.request(msgGetGen, unix.AF_UNSPEC, func(typ uint16, payload []byte) error {
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
	if err := c.StartChains(family); err != nil {
		return err
	}
	return c.each(fn)
}

// DumpRules calls fn with every rule message of one chain, as DumpChains.
func (c *Conn) DumpRules(family uint8, table, chain []byte, fn func(payload []byte) error) error {
	if err := c.StartRules(family, table, chain); err != nil {
		return err
	}
	return c.each(fn)
}

func (c *Conn) each(fn func([]byte) error) error {
	var cbErr error
	for c.Next() {
		if cbErr == nil {
			// Keep reading after a callback error so the socket is left
			// at a message boundary, ready for the next request.
			cbErr = fn(c.Payload())
		}
	}
	if cbErr != nil {
		return cbErr
	}
	return c.Err()
}

// StartChains starts a dump of every chain of family; Next walks it.
func (c *Conn) StartChains(family uint8) error {
	return c.start(msgGetChain, MsgNewChain, family, nil)
}

// StartRules starts a dump of the rules of one chain; Next walks it.
//
// The kernel restarts a rule dump from the first rule of its scope for
// every 32 KiB it sends, so a dump of a whole table costs time quadratic in
// its rule count (0.3 s for 35k rules); one dump per chain keeps the
// restarts within a chain.
func (c *Conn) StartRules(family uint8, table, chain []byte) error {
	attrs := c.reqAttrs[:0]
	attrs = appendStrAttr(attrs, attrRuleTable, table)
	attrs = appendStrAttr(attrs, attrRuleChain, chain)
	c.reqAttrs = attrs
	return c.start(msgGetRule, MsgNewRule, family, attrs)
}

func (c *Conn) start(get, want uint16, family uint8, attrs []byte) error {
	if c.inDump {
		// The previous dump was abandoned: drain it first.
		for c.Next() {
		}
	}
	if err := c.send(get, family, unix.NLM_F_DUMP, attrs); err != nil {
		return err
	}
	c.inDump, c.want, c.pending, c.payload, c.err, c.interrupted = true, subsysNFTables<<8|want, nil, nil, nil, false
	return nil
}

// Next moves to the next message of the running dump. It returns false at
// the end of the dump or on an error, which Err then reports.
func (c *Conn) Next() bool {
	for c.inDump {
		for len(c.pending) > 0 {
			typ, flags, payload, rest, done, err := nextMessage(c.pending, c.seq, true)
			c.pending = rest
			if err != nil {
				c.finish(err)
				return false
			}
			if done {
				c.finish(nil)
				return false
			}
			if flags&nlmDumpIntr != 0 {
				c.interrupted = true
			}
			if typ == c.want {
				c.payload = payload
				return true
			}
		}
		n, err := unix.Read(c.fd, c.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			c.finish(os.NewSyscallError("read", err))
			return false
		}
		c.pending = c.buf[:n]
	}
	return false
}

func (c *Conn) finish(err error) {
	c.inDump, c.pending, c.payload = false, nil, nil
	if err == nil && c.interrupted {
		err = ErrInterrupted
	}
	c.err = err
}

// Payload is the current message of the dump, from its nfgenmsg header on;
// valid until the next call to Next.
func (c *Conn) Payload() []byte { return c.payload }

// Err reports why the last dump ended: nil at its end, ErrInterrupted if the
// ruleset changed during it, or the error that stopped it.
func (c *Conn) Err() error { return c.err }

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

func (c *Conn) send(msg uint16, family uint8, flags uint16, attrs []byte) error {
	c.seq++
	req := append(c.req[:0], make([]byte, nlmsgHdrLen+nfgenHdrLen)...)
	req = append(req, attrs...)
	c.req = req
	if flags&unix.NLM_F_DUMP == 0 {
		// A dump ends with NLMSG_DONE; a single request with its ack.
		flags |= unix.NLM_F_ACK
	}
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], subsysNFTables<<8|msg)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(req[8:], c.seq)
	req[16] = family
	req[17] = unix.NFNETLINK_V0
	// write and read rather than sendto and recvfrom: the socket talks
	// only to the kernel, and the address structs would cost an
	// allocation per chain.
	if _, err := unix.Write(c.fd, req); err != nil {
		return os.NewSyscallError("write", err)
	}
	return nil
}

// request sends one request that is not a dump and hands every reply
// message to fn until the kernel acknowledges it.
func (c *Conn) request(msg uint16, family uint8, fn func(typ uint16, payload []byte) error) error {
	if c.inDump {
		for c.Next() {
		}
	}
	if err := c.send(msg, family, 0, nil); err != nil {
		return err
	}
	var cbErr error
	for {
		n, err := unix.Read(c.fd, c.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("read", err)
		}
		b := c.buf[:n]
		for len(b) > 0 {
			typ, _, payload, rest, done, err := nextMessage(b, c.seq, false)
			b = rest
			if err != nil {
				return err
			}
			if done {
				return cbErr
			}
			if payload != nil && cbErr == nil {
				cbErr = fn(typ, payload)
			}
		}
	}
}

// nextMessage takes the first netlink message off b. A message of another
// sequence number (a late reply to an abandoned request) comes back with a
// nil payload. done reports the end of the reply: NLMSG_DONE for a dump,
// the acknowledgement (an error message with code 0) otherwise.
func nextMessage(b []byte, seq uint32, dump bool) (typ, flags uint16, payload, rest []byte, done bool, err error) {
	if len(b) < nlmsgHdrLen {
		return 0, 0, nil, nil, false, fmt.Errorf("netlink: %d trailing bytes, shorter than a header", len(b))
	}
	l := int(binary.NativeEndian.Uint32(b))
	typ = binary.NativeEndian.Uint16(b[4:])
	flags = binary.NativeEndian.Uint16(b[6:])
	mseq := binary.NativeEndian.Uint32(b[8:])
	if l < nlmsgHdrLen || l > len(b) {
		return 0, 0, nil, nil, false, fmt.Errorf("netlink: message length %d out of range (%d left)", l, len(b))
	}
	payload = b[nlmsgHdrLen:l]
	rest = b[min(nlmAlign(l), len(b)):]
	if mseq != seq {
		return typ, flags, nil, rest, false, nil
	}
	switch typ {
	case unix.NLMSG_DONE:
		if len(payload) >= 4 {
			if e := int32(binary.NativeEndian.Uint32(payload)); e < 0 {
				return typ, flags, nil, rest, true, errnoError(e)
			}
		}
		return typ, flags, nil, rest, true, nil
	case unix.NLMSG_ERROR:
		if len(payload) < 4 {
			return typ, flags, nil, rest, false, errors.New("netlink: short error message")
		}
		if e := int32(binary.NativeEndian.Uint32(payload)); e < 0 {
			return typ, flags, nil, rest, true, errnoError(e)
		}
		return typ, flags, nil, rest, !dump, nil
	case unix.NLMSG_NOOP, unix.NLMSG_OVERRUN:
		return typ, flags, nil, rest, false, nil
	}
	return typ, flags, payload, rest, false, nil
}

func errnoError(e int32) error {
	return os.NewSyscallError("nf_tables netlink", syscall.Errno(-e))
}

func nlmAlign(n int) int { return (n + 3) &^ 3 }
