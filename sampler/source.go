package sampler

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Source reads packets from a pcap or pcapng stream (gzip-compressed too)
// with gopacket's pcapgo readers, and knows the byte offset of every
// record, so a corrupt file is reported where it breaks.
type Source struct {
	counter *countingReader
	br      *bufio.Reader
	pcap    *pcapgo.Reader
	ng      *pcapgo.NgReader
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
	s.br = bufio.NewReaderSize(s.counter, 1<<16)
	magic, err := s.br.Peek(4)
	if err != nil {
		if err == io.EOF && len(magic) == 0 {
			return nil, errors.New("empty capture file")
		}
		return nil, fmt.Errorf("capture file header: %w", err)
	}
	s.gzip = magic[0] == 0x1f && magic[1] == 0x8b
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

// LinkType is the link type of the file (of its first interface for
// pcapng).
func (s *Source) LinkType() layers.LinkType { return s.lt }

// Offset is the number of bytes of the (decompressed) stream consumed.
func (s *Source) Offset() int64 {
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
	var ci gopacket.CaptureInfo
	lt = s.lt
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
