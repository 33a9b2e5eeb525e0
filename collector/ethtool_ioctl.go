package collector

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Driver statistics (`ethtool -S`) exist only behind the SIOCETHTOOL ioctl:
// ethtool netlink's ETHTOOL_MSG_STATS_GET carries the standard IEEE/RMON
// groups, not the driver's own counters, and mdlayher/ethtool v0.7.0 has no
// statistics or ring API. Ring sizes use the ioctl too, so the collector
// needs one socket and no netlink family lookup. These readers return the
// kernel's reply buffers; ethtool_parse.go decodes them.

const (
	ethSSStats    = 1  // ETH_SS_STATS: the driver statistics string set
	ethGStringLen = 32 // ETH_GSTRING_LEN

	ssetInfoLen  = 16 + 4 // struct ethtool_sset_info + one data word
	gstringsHdr  = 12     // struct ethtool_gstrings: cmd, string_set, len
	gstatsHdr    = 8      // struct ethtool_stats: cmd, n_stats
	ringParamLen = 36     // struct ethtool_ringparam: cmd + 8 u32
)

// ifreqData is struct ifreq with its union used as ifr_data, the layout
// SIOCETHTOOL expects. data is an unsafe.Pointer so the buffer it points to
// stays visible to the garbage collector during the call.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ethtoolSocket opens the socket SIOCETHTOOL is issued on, in the calling
// thread's network namespace; the ioctl reaches devices of the socket's
// namespace whatever its family.
func ethtoolSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err == unix.EAFNOSUPPORT {
		// A kernel without IPv4: any family will do.
		fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}

// ethtoolIoctl runs one SIOCETHTOOL command on dev; buf starts with the
// command word and is where the kernel writes its reply.
func ethtoolIoctl(fd int, dev string, buf []byte) error {
	if len(dev) >= unix.IFNAMSIZ || len(buf) < 4 {
		return fmt.Errorf("ethtool ioctl on %q: %w", dev, unix.EINVAL)
	}
	var ifr ifreqData
	copy(ifr.name[:], dev)
	ifr.data = unsafe.Pointer(&buf[0])
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(buf)
	if errno != 0 {
		return errno
	}
	return nil
}

// ethtoolCmd returns a zeroed buffer of n bytes starting with cmd.
func ethtoolCmd(cmd uint32, n int) []byte {
	b := make([]byte, n)
	binary.NativeEndian.PutUint32(b, cmd)
	return b
}

// readSsetInfo asks how many driver statistics dev has.
func readSsetInfo(fd int, dev string) ([]byte, error) {
	b := ethtoolCmd(unix.ETHTOOL_GSSET_INFO, ssetInfoLen)
	binary.NativeEndian.PutUint64(b[8:], 1<<ethSSStats)
	return b, ethtoolIoctl(fd, dev, b)
}

// statsSlack is room for statistics a driver adds between the count query
// and the read: GSTRINGS and GSTATS write as many entries as the driver has
// at that moment, whatever the caller allocated (the ethtool tool has the
// same race). Adding queues mid-scrape is the only way to get there.
func statsSlack(n int) int { return n + n/2 + 64 }

// readStatNames reads the names of dev's n driver statistics.
func readStatNames(fd int, dev string, n int) ([]byte, error) {
	b := ethtoolCmd(unix.ETHTOOL_GSTRINGS, gstringsHdr+statsSlack(n)*ethGStringLen)
	binary.NativeEndian.PutUint32(b[4:], ethSSStats)
	binary.NativeEndian.PutUint32(b[8:], uint32(n))
	return b, ethtoolIoctl(fd, dev, b)
}

// readStatValues reads the values of dev's n driver statistics.
func readStatValues(fd int, dev string, n int) ([]byte, error) {
	b := ethtoolCmd(unix.ETHTOOL_GSTATS, gstatsHdr+statsSlack(n)*8)
	binary.NativeEndian.PutUint32(b[4:], uint32(n))
	return b, ethtoolIoctl(fd, dev, b)
}

// readRingParam reads dev's ring sizes.
func readRingParam(fd int, dev string) ([]byte, error) {
	b := ethtoolCmd(unix.ETHTOOL_GRINGPARAM, ringParamLen)
	return b, ethtoolIoctl(fd, dev, b)
}
