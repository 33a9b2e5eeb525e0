// Package xtables reads the legacy iptables and ip6tables tables (the
// x_tables kernel API that iptables-legacy uses) of the calling thread's
// network namespace, the way iptables-legacy-save does, and decodes the
// parts the firewall collector needs.
//
// Reading takes no xtables lock: the kernel hands out a consistent copy of a
// table with its counters in one getsockopt call, and the lock only
// serialises writers. It needs CAP_NET_RAW (the raw socket) and
// CAP_NET_ADMIN (the getsockopt) in the namespace's user namespace.
package xtables

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Family is an address family: IPv4 for iptables, IPv6 for ip6tables.
type Family uint8

const (
	IPv4 Family = unix.AF_INET
	IPv6 Family = unix.AF_INET6
)

func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// getsockopt numbers (IPT_SO_GET_INFO, IPT_SO_GET_ENTRIES; ip6tables uses
// the same values at level IPPROTO_IPV6).
const (
	soGetInfo    = 64
	soGetEntries = 65

	getInfoLen       = 84 // sizeof(struct ipt_getinfo)
	getEntriesHdrLen = 40 // sizeof(struct ipt_get_entries)
	tableNameLen     = 32 // XT_TABLE_MAXNAMELEN
)

// TableNamesFile is the procfs file, under a net directory such as
// netns.ProcNet, that lists the legacy tables a namespace has
// instantiated.
func TableNamesFile(fam Family) string {
	if fam == IPv6 {
		return "ip6_tables_names"
	}
	return "ip_tables_names"
}

// TableNames lists the legacy tables of family instantiated in the
// namespace whose net directory is procNet. A missing file means the
// ip_tables (ip6_tables) module is not loaded: no tables, no error.
//
// Only these tables may be read: asking the kernel for a table a namespace
// has not instantiated would instantiate it, hooking an empty legacy table
// into every packet's path.
func TableNames(procNet string, fam Family) ([]string, error) {
	f, err := os.Open(filepath.Join(procNet, TableNamesFile(fam)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseTableNames(f)
}

// ParseTableNames parses ip_tables_names: one table name per line.
func ParseTableNames(r io.Reader) ([]string, error) {
	var names []string
	s := bufio.NewScanner(r)
	for s.Scan() {
		n := s.Text()
		if n == "" {
			continue
		}
		if len(n) >= tableNameLen {
			return nil, fmt.Errorf("table name %.40q longer than %d bytes", n, tableNameLen-1)
		}
		names = append(names, n)
	}
	return names, s.Err()
}

// Socket is a raw socket for the getsockopt calls, bound to the network
// namespace of the thread that opened it.
type Socket struct {
	fd  int
	fam Family
}

// Open opens the socket in the calling thread's network namespace.
func Open(fam Family) (*Socket, error) {
	fd, err := unix.Socket(int(fam), unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("%s raw socket for legacy tables: %w", fam, os.NewSyscallError("socket", err))
	}
	return &Socket{fd: fd, fam: fam}, nil
}

// Close closes the socket.
func (s *Socket) Close() error { return unix.Close(s.fd) }

func (s *Socket) level() int {
	if s.fam == IPv6 {
		return unix.IPPROTO_IPV6
	}
	return unix.IPPROTO_IP
}

// Read returns table's info and its entries, counters included. The entries
// are read into buf when it is large enough, else into a new, larger
// buffer; either is returned as newBuf for the next call. A kube-proxy nat
// table is tens of megabytes: reusing the buffer keeps a collection from
// allocating it again.
func (s *Socket) Read(table string, buf []byte) (info Info, entries, newBuf []byte, err error) {
	if len(table) >= tableNameLen {
		return Info{}, nil, buf, fmt.Errorf("table name %q too long", table)
	}
	// The table may change size between the two calls; the kernel then
	// answers EAGAIN and the size must be asked again.
	for attempt := 0; ; attempt++ {
		var ib [getInfoLen]byte
		copy(ib[:], table)
		if err := s.getsockopt(soGetInfo, ib[:]); err != nil {
			return Info{}, nil, buf, fmt.Errorf("%s table %s: %w", s.fam, table, err)
		}
		info, err = ParseInfo(ib[:])
		if err != nil {
			return Info{}, nil, buf, fmt.Errorf("%s table %s: %w", s.fam, table, err)
		}
		need := getEntriesHdrLen + int(info.Size)
		if cap(buf) < need {
			// Some headroom: tables grow between collections.
			buf = make([]byte, need+need/8)
		}
		b := buf[:need]
		clear(b[:getEntriesHdrLen])
		copy(b, table)
		binary.NativeEndian.PutUint32(b[tableNameLen:], info.Size)
		err = s.getsockopt(soGetEntries, b)
		if errors.Is(err, syscall.EAGAIN) && attempt < 10 {
			continue
		}
		if err != nil {
			return Info{}, nil, buf, fmt.Errorf("%s table %s entries: %w", s.fam, table, err)
		}
		return info, b[getEntriesHdrLen:], buf, nil
	}
}

// RawInfo returns the undecoded getinfo answer for table, for fixtures.
func (s *Socket) RawInfo(table string) ([]byte, error) {
	b := make([]byte, getInfoLen)
	copy(b, table)
	return b, s.getsockopt(soGetInfo, b)
}

func (s *Socket) getsockopt(opt int, b []byte) error {
	l := uint32(len(b))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), uintptr(s.level()), uintptr(opt),
		uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return os.NewSyscallError("getsockopt", errno)
	}
	if int(l) != len(b) {
		return fmt.Errorf("getsockopt %d: kernel returned %d bytes, want %d", opt, l, len(b))
	}
	return nil
}
