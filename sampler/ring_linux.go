package sampler

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ring is an AF_PACKET socket with a TPACKET_V3 receive ring: the kernel
// writes packets into shared memory in blocks, and the reader walks a block
// in place and hands it back, one system call per block instead of per
// packet. The socket is SOCK_DGRAM, so packets start at their network
// header whatever the link type.
type ring struct {
	fd        int
	mem       []byte
	blockSize int
	blocks    int
	cur       int
	// file registers the socket with Go's network poller, so waiting for
	// a block parks the goroutine instead of blocking a thread in poll(2),
	// which would make the runtime hand the thread's work to another.
	file *os.File
	rc   syscall.RawConn
}

// RingConfig sizes the ring: Blocks blocks of BlockSize bytes (a power of
// two, a multiple of the page size). The kernel hands a block over when it
// is full or BlockTimeout after its first packet.
type RingConfig struct {
	BlockSize    int
	Blocks       int
	BlockTimeout time.Duration
}

// DefaultRing holds about 20,000 packets cut to 128 bytes: a fifth of a
// second at 100,000 packets/s, before the kernel has to drop.
var DefaultRing = RingConfig{BlockSize: 1 << 20, Blocks: 4, BlockTimeout: 50 * time.Millisecond}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openRing opens the socket in the calling thread's network namespace. The
// filter is attached before the socket is bound, so no packet arrives
// unfiltered.
func openRing(prog []bpf.Instruction, cfg RingConfig) (*ring, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble filter: %w", err)
	}
	// Protocol 0: the socket receives nothing until bind names ETH_P_ALL.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket(AF_PACKET)", err)
	}
	r := &ring{fd: fd, blockSize: cfg.BlockSize, blocks: cfg.Blocks}
	if err := r.setup(raw, cfg); err != nil {
		r.close()
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		r.close()
		return nil, os.NewSyscallError("fcntl(O_NONBLOCK)", err)
	}
	r.file = os.NewFile(uintptr(fd), "packet")
	if r.rc, err = r.file.SyscallConn(); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *ring) setup(raw []bpf.RawInstruction, cfg RingConfig) error {
	filter := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(r.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return os.NewSyscallError("setsockopt(SO_ATTACH_FILTER)", err)
	}
	if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return os.NewSyscallError("setsockopt(PACKET_VERSION)", err)
	}
	const frameSize = 2048 // only used to count frames; V3 packs packets densely
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.BlockSize),
		Block_nr:       uint32(cfg.Blocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(cfg.BlockSize / frameSize * cfg.Blocks),
		Retire_blk_tov: uint32(max(cfg.BlockTimeout.Milliseconds(), 1)),
	}
	if err := unix.SetsockoptTpacketReq3(r.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return os.NewSyscallError("setsockopt(PACKET_RX_RING)", err)
	}
	mem, err := unix.Mmap(r.fd, 0, cfg.BlockSize*cfg.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return os.NewSyscallError("mmap", err)
	}
	r.mem = mem
	if err := unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)}); err != nil {
		return os.NewSyscallError("bind(AF_PACKET)", err)
	}
	return nil
}

func (r *ring) close() {
	if r.mem != nil {
		_ = unix.Munmap(r.mem)
		r.mem = nil
	}
	switch {
	case r.file != nil:
		_ = r.file.Close()
		r.file, r.fd = nil, -1
	case r.fd >= 0:
		_ = unix.Close(r.fd)
		r.fd = -1
	}
}

// Offsets in struct tpacket_block_desc and tpacket3_hdr (linux/if_packet.h).
const (
	blkStatus     = 8  // hdr.bh1.block_status
	blkNumPkts    = 12 // hdr.bh1.num_pkts
	blkFirstPkt   = 16 // hdr.bh1.offset_to_first_pkt
	pktNextOffset = 0
	pktSec        = 4
	pktNsec       = 8
	pktSnaplen    = 12
	pktLen        = 16
	pktNet        = 26
	pktSockaddr   = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
	sllProtocol   = 2  // offsets within struct sockaddr_ll
	sllIfindex    = 4
	sllPkttype    = 10
)

func (r *ring) status(b int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[b*r.blockSize+blkStatus]))
}

// wait blocks until the current block is ready or timeout passes, and
// reports whether it is ready.
func (r *ring) wait(timeout time.Duration) (bool, error) {
	if r.ready() {
		return true, nil
	}
	if err := r.file.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return false, err
	}
	err := r.rc.Read(func(uintptr) bool { return r.ready() })
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return false, err
	}
	return r.ready(), nil
}

func (r *ring) ready() bool {
	return atomic.LoadUint32(r.status(r.cur))&unix.TP_STATUS_USER != 0
}

// frame is one captured packet, its bytes in the ring.
type frame struct {
	data     []byte // from the network header, at most the snap length
	ts       int64  // ns since the epoch
	length   uint32 // length on the wire
	ifindex  int32
	pkttype  uint8
	protocol uint16 // ethertype
}

// drain hands every packet of every ready block to fn, returns the blocks
// to the kernel, and returns the packet count.
func (r *ring) drain(fn func(*frame)) int {
	n := 0
	var f frame
	for r.ready() {
		blk := r.mem[r.cur*r.blockSize : (r.cur+1)*r.blockSize]
		num := int(binary.NativeEndian.Uint32(blk[blkNumPkts:]))
		off := int(binary.NativeEndian.Uint32(blk[blkFirstPkt:]))
		for i := 0; i < num && off > 0 && off+pktSockaddr+12 <= len(blk); i++ {
			h := blk[off:]
			snap := int(binary.NativeEndian.Uint32(h[pktSnaplen:]))
			net := int(binary.NativeEndian.Uint16(h[pktNet:]))
			if net+snap <= len(h) {
				f.data = h[net : net+snap]
				f.ts = int64(binary.NativeEndian.Uint32(h[pktSec:]))*1e9 + int64(binary.NativeEndian.Uint32(h[pktNsec:]))
				f.length = binary.NativeEndian.Uint32(h[pktLen:])
				sll := h[pktSockaddr:]
				f.protocol = binary.BigEndian.Uint16(sll[sllProtocol:])
				f.ifindex = int32(binary.NativeEndian.Uint32(sll[sllIfindex:]))
				f.pkttype = sll[sllPkttype]
				fn(&f)
				n++
			}
			next := int(binary.NativeEndian.Uint32(h[pktNextOffset:]))
			if next == 0 {
				break
			}
			off += next
		}
		atomic.StoreUint32(r.status(r.cur), unix.TP_STATUS_KERNEL)
		r.cur = (r.cur + 1) % r.blocks
	}
	return n
}

// stats returns the packets the kernel passed the filter and those it
// dropped for lack of ring space since the last call (the kernel resets
// them on read).
func (r *ring) stats() (packets, drops uint64, err error) {
	s, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, 0, os.NewSyscallError("getsockopt(PACKET_STATISTICS)", err)
	}
	return uint64(s.Packets), uint64(s.Drops), nil
}
