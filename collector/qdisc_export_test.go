package collector

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/mdlayher/netlink"
)

// DumpQdiscs gives the end-to-end tests (package collector_test, which may
// import nstest) the reader, to compare and capture what the kernel sends.
var DumpQdiscs = dumpQdiscs

// TcQdisc is one qdisc in the shape of `tc -s -j qdisc show`, the form in
// which the tests compare the collector's decoding with tc's.
type TcQdisc struct {
	Dev, Kind, Handle, Parent                                  string
	Bytes, Packets, Drops, Overlimits, Requeues, Backlog, Qlen uint64
}

func (q TcQdisc) String() string {
	return fmt.Sprintf("%s %s %s parent %s: sent %dB %dp drops %d overlimits %d requeues %d backlog %dB %dp",
		q.Dev, q.Kind, q.Handle, q.Parent, q.Bytes, q.Packets, q.Drops, q.Overlimits, q.Requeues, q.Backlog, q.Qlen)
}

// QdiscRows decodes raw link and qdisc dumps with the collector's parsers.
func QdiscRows(links, qmsgs []netlink.Message) ([]TcQdisc, error) {
	names, qs, err := qdiscsFromMessages(links, qmsgs)
	if err != nil {
		return nil, err
	}
	out := make([]TcQdisc, 0, len(qs))
	for _, q := range qs {
		out = append(out, TcQdisc{
			Dev: names[q.ifindex], Kind: q.kind, Handle: tcHandle(q.handle), Parent: tcParent(q.parent),
			Bytes: q.bytes, Packets: q.packets, Drops: uint64(q.drops), Overlimits: uint64(q.overlimits),
			Requeues: uint64(q.requeues), Backlog: uint64(q.backlog), Qlen: uint64(q.qlen),
		})
	}
	SortTcQdiscs(out)
	return out, nil
}

// ParseTcQdiscJSON reads the output of `tc -s -j qdisc show`.
func ParseTcQdiscJSON(b []byte) ([]TcQdisc, error) {
	var raw []struct {
		Dev, Kind, Handle, Parent                                  string
		Root                                                       bool
		Bytes, Packets, Drops, Overlimits, Requeues, Backlog, Qlen uint64
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("tc -j output: %w", err)
	}
	out := make([]TcQdisc, 0, len(raw))
	for _, r := range raw {
		q := TcQdisc{Dev: r.Dev, Kind: r.Kind, Handle: r.Handle, Parent: r.Parent,
			Bytes: r.Bytes, Packets: r.Packets, Drops: r.Drops, Overlimits: r.Overlimits,
			Requeues: r.Requeues, Backlog: r.Backlog, Qlen: r.Qlen}
		if r.Root {
			q.Parent = "root"
		}
		out = append(out, q)
	}
	SortTcQdiscs(out)
	return out, nil
}

// SortTcQdiscs orders rows by device, parent and handle, as both sides of a
// comparison must be.
func SortTcQdiscs(qs []TcQdisc) {
	sort.Slice(qs, func(i, j int) bool {
		a, b := qs[i], qs[j]
		if a.Dev != b.Dev {
			return a.Dev < b.Dev
		}
		if a.Parent != b.Parent {
			return a.Parent < b.Parent
		}
		return a.Handle < b.Handle
	})
}

// SplitNetlink splits concatenated raw netlink messages (a fixture file).
func SplitNetlink(b []byte) ([]netlink.Message, error) {
	var out []netlink.Message
	for len(b) > 0 {
		if len(b) < 16 {
			return nil, fmt.Errorf("%d trailing bytes", len(b))
		}
		n := int(binary.NativeEndian.Uint32(b))
		n = (n + 3) &^ 3
		if n < 16 || n > len(b) {
			return nil, fmt.Errorf("message length %d with %d bytes left", n, len(b))
		}
		var m netlink.Message
		if err := m.UnmarshalBinary(b[:n]); err != nil {
			return nil, err
		}
		out = append(out, m)
		b = b[n:]
	}
	return out, nil
}

// JoinNetlink is the inverse of SplitNetlink.
func JoinNetlink(msgs []netlink.Message) ([]byte, error) {
	var out []byte
	for _, m := range msgs {
		b, err := m.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}
