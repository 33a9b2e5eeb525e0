package sampler

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Source reads packets from a pcap or pcapng stream (gzip-compressed too)
// and knows the byte offset of every record, so a corrupt file is reported
// where it breaks. pcapng and compressed files go through gopacket's
// pcapgo readers; plain pcap, a 16-byte header per record, is read in
// place from the input buffer: pcapgo copies every record twice, which at
// millions of packets a second costs more than the rest of the analysis.
type Source struct {
	counter *countingReader
	br      *bufio.Reader
	raw     *pcapReader      // classic pcap, read in place
	pcap    *pcapgo.Reader   // gzip-compressed classic pcap
	ng      *pcapgo.NgReader // pcapng
	lt      layers.LinkType
	// Packets is the number of records read so far.
	Packets int64
	start   int64 // offset of the record being read
	gzip    bool
}

// CorruptError says where a capture file stops making sense. Everything
// before Offset was read.
type CorruptError struct {
	Offset int64 // byte offset of the record that could not be read
	Packet int64 // its number, counting from 1
	Err    error
	// Compressed: the file is gzip-compressed and Offset unknown (-1).
	Compressed bool
}

func (e *CorruptError) Error() string {
	what := "corrupt"
	if errors.Is(e.Err, io.ErrUnexpectedEOF) {
		what = "truncated"
	}
	if e.Compressed {
		return fmt.Sprintf("gzip capture %s at packet %d: %v", what, e.Packet, e.Err)
	}
	return fmt.Sprintf("capture %s at byte offset %d (packet %d): %v", what, e.Offset, e.Packet, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

const pcapngMagic = 0x0A0D0D0A

// NewSource reads the file header of r and returns a Source.
func NewSource(r io.Reader) (*Source, error) {
	s := &Source{counter: &countingReader{r: r}}
	// pcapgo wraps its input in a bufio.Reader of 4096 bytes; handing it
	// a larger one makes it use ours, so Offset stays exact.
	s.br = bufio.NewReaderSize(s.counter, 1<<20)
	magic, err := s.br.Peek(4)
	if err != nil {
		if err == io.EOF && len(magic) == 0 {
			return nil, errors.New("empty capture file")
		}
		return nil, fmt.Errorf("capture file header: %w", err)
	}
	s.gzip = magic[0] == 0x1f && magic[1] == 0x8b
	if !s.gzip && binary.LittleEndian.Uint32(magic) != pcapngMagic {
		s.raw, err = newPcapReader(s.br)
		if err != nil {
			return nil, fmt.Errorf("capture file header: %w", err)
		}
		s.lt = s.raw.linkType
		return s, nil
	}
	// A gzip stream goes to pcapgo's pcap reader, which decompresses it
	// itself: only classic pcap is read compressed.
	if err := s.openReader(binary.LittleEndian.Uint32(magic) == pcapngMagic); err != nil {
		return nil, fmt.Errorf("capture file header: %w", err)
	}
	return s, nil
}

func (s *Source) openReader(ng bool) (err error) {
	defer recoverAsError(&err)
	if ng {
		s.ng, err = pcapgo.NewNgReader(s.br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err == nil {
			s.lt = s.ng.LinkType()
		}
		return err
	}
	s.pcap, err = pcapgo.NewReader(s.br)
	if err == nil {
		s.lt = s.pcap.LinkType()
	}
	return err
}

// recoverAsError turns a panic in a reader fed a hostile file into an
// error: a bad capture must never crash the caller.
func recoverAsError(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("reader failed: %v", r)
	}
}

// NewSourceBytes reads a capture held in memory, typically a file mapped
// with mmap: plain pcap records are then read without any copy.
func NewSourceBytes(b []byte) (*Source, error) {
	if len(b) >= 4 && !(b[0] == 0x1f && b[1] == 0x8b) && binary.LittleEndian.Uint32(b) != pcapngMagic {
		r, err := newMemPcapReader(b)
		if err != nil {
			return nil, fmt.Errorf("capture file header: %w", err)
		}
		return &Source{raw: r, lt: r.linkType}, nil
	}
	return NewSource(bytes.NewReader(b))
}

// LinkType is the link type of the file (of its first interface for
// pcapng).
func (s *Source) LinkType() layers.LinkType { return s.lt }

// Offset is the number of bytes of the (decompressed) stream consumed.
func (s *Source) Offset() int64 {
	if s.raw != nil && s.raw.mem != nil {
		return int64(s.raw.off)
	}
	if s.gzip {
		return s.counter.n // compressed bytes read: progress only
	}
	return s.counter.n - int64(s.br.Buffered())
}

// Next returns the next packet: its bytes (valid until the next call),
// capture time in ns and link type. It returns io.EOF at the clean end of
// the stream and a *CorruptError otherwise.
func (s *Source) Next() (data []byte, ts int64, lt layers.LinkType, err error) {
	s.start = s.Offset()
	lt = s.lt
	if s.raw != nil {
		data, ts, err = s.raw.next()
		if err == nil {
			s.Packets++
			return data, ts, lt, nil
		}
		if err == io.EOF {
			return nil, 0, lt, io.EOF
		}
		return nil, 0, lt, &CorruptError{Offset: s.start, Packet: s.Packets + 1, Err: err}
	}
	var ci gopacket.CaptureInfo
	data, ci, err = s.read()
	if err != nil {
		if err == io.EOF {
			return nil, 0, lt, io.EOF
		}
		start := s.start
		if s.gzip {
			start = -1
		}
		return nil, 0, lt, &CorruptError{Offset: start, Packet: s.Packets + 1, Err: err, Compressed: s.gzip}
	}
	s.Packets++
	if s.ng != nil && len(ci.AncillaryData) > 0 {
		if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			lt = l
		}
	}
	return data, ci.Timestamp.UnixNano(), lt, nil
}

func (s *Source) read() (data []byte, ci gopacket.CaptureInfo, err error) {
	defer recoverAsError(&err)
	if s.ng != nil {
		return s.ng.ZeroCopyReadPacketData()
	}
	return s.pcap.ZeroCopyReadPacketData()
}

// pcapReader reads classic pcap records in place: the bytes returned are
// the input buffer's, valid until the next call.
type pcapReader struct {
	br       *bufio.Reader
	mem      []byte // the whole file, when read from memory instead of br
	off      int    // next record in mem
	order    binary.ByteOrder
	big      bool // order is big-endian; tested inline, not through the interface
	nanos    bool
	snaplen  uint32
	linkType layers.LinkType
}

// maxRecord is the longest record accepted, libpcap's MAXIMUM_SNAPLEN,
// unless the file declares a larger snap length.
const maxRecord = 262144

func newPcapReader(br *bufio.Reader) (*pcapReader, error) {
	h, err := br.Peek(24)
	if err != nil {
		return nil, err
	}
	r := &pcapReader{br: br}
	if err := r.header(h); err != nil {
		return nil, err
	}
	_, err = br.Discard(24)
	return r, err
}

func newMemPcapReader(b []byte) (*pcapReader, error) {
	if len(b) < 24 {
		return nil, io.ErrUnexpectedEOF
	}
	r := &pcapReader{mem: b, off: 24}
	return r, r.header(b[:24])
}

// header parses the 24-byte file header.
func (r *pcapReader) header(h []byte) error {
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4:
		r.order = binary.LittleEndian
	case 0xa1b23c4d:
		r.order, r.nanos = binary.LittleEndian, true
	case 0xd4c3b2a1:
		r.order = binary.BigEndian
	case 0x4d3cb2a1:
		r.order, r.nanos = binary.BigEndian, true
	default:
		return fmt.Errorf("not a pcap or pcapng file (magic %x)", h[:4])
	}
	if major := r.order.Uint16(h[4:]); major != 2 {
		return fmt.Errorf("unknown pcap version %d", major)
	}
	r.big = r.order == binary.BigEndian
	r.snaplen = r.order.Uint32(h[16:])
	// The upper bits of the link type field may carry FCS information.
	r.linkType = layers.LinkType(r.order.Uint32(h[20:]) & 0x0fffffff)
	return nil
}

func (r *pcapReader) next() ([]byte, int64, error) {
	var h []byte
	if r.mem != nil {
		switch rest := len(r.mem) - r.off; {
		case rest == 0:
			return nil, 0, io.EOF
		case rest < 16:
			return nil, 0, io.ErrUnexpectedEOF
		}
		h = r.mem[r.off : r.off+16]
	} else {
		var err error
		if h, err = r.br.Peek(16); err != nil {
			if err == io.EOF && len(h) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, 0, err
		}
	}
	u32 := binary.LittleEndian.Uint32
	if r.big {
		u32 = binary.BigEndian.Uint32
	}
	sec, frac := int64(u32(h[0:])), int64(u32(h[4:]))
	caplen, origlen := u32(h[8:]), u32(h[12:])
	if caplen > max(r.snaplen, maxRecord) {
		return nil, 0, fmt.Errorf("record length %d exceeds the snap length %d", caplen, r.snaplen)
	}
	if caplen > origlen {
		return nil, 0, fmt.Errorf("record length %d exceeds the packet length %d", caplen, origlen)
	}
	if !r.nanos {
		frac *= 1000
	}
	if r.mem != nil {
		end := r.off + 16 + int(caplen)
		if end > len(r.mem) {
			return nil, 0, io.ErrUnexpectedEOF
		}
		rec := r.mem[r.off+16 : end]
		r.off = end
		return rec, sec*1e9 + frac, nil
	}
	if int(16+caplen) > r.br.Size() {
		return nil, 0, fmt.Errorf("record length %d exceeds the read buffer", caplen)
	}
	rec, err := r.br.Peek(16 + int(caplen))
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, err
	}
	_, _ = r.br.Discard(16 + int(caplen))
	return rec[16:], sec*1e9 + frac, nil
}
