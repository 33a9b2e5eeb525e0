package sampler

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func threePackets(t *testing.T) []byte {
	return capture(t, 0, handshake(2*time.Millisecond)...)
}

func TestSourceReadsPcap(t *testing.T) {
	a, err := ReadCapture(bytes.NewReader(threePackets(t)), AnalyzeOptions{})
	if err != nil || a.Err != nil {
		t.Fatal(err, a.Err)
	}
	if a.Packets != 3 || len(a.Records) != 1 || a.Records[0].SynToSynAck != int64(2*time.Millisecond) {
		t.Errorf("packets %d records %+v", a.Packets, a.Records)
	}
}

func TestSourceReadsPcapng(t *testing.T) {
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range handshake(time.Millisecond) {
		data := p.frame(t)
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(p.at), Length: len(data), CaptureLength: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	a, err := ReadCapture(&b, AnalyzeOptions{})
	if err != nil || a.Err != nil {
		t.Fatal(err, a.Err)
	}
	if len(a.Records) != 1 || !a.Records[0].Handshake() || a.Records[0].SynToSynAck != int64(time.Millisecond) {
		t.Errorf("records %+v", a.Records)
	}
}

func TestSourceReadsGzip(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(threePackets(t))
	zw.Close()
	a, err := ReadCapture(&b, AnalyzeOptions{})
	if err != nil || a.Err != nil || a.Packets != 3 {
		t.Fatalf("packets %d: %v %v", a.Packets, err, a.Err)
	}
}

// A file cut in the middle of a record reports the offset where that
// record starts, and analyses the records before it.
func TestSourceTruncatedOffset(t *testing.T) {
	file := threePackets(t)
	// Record starts: 24, then each record is 16 + captured length.
	second := 24 + 16 + int(binary.LittleEndian.Uint32(file[24+8:]))
	third := second + 16 + int(binary.LittleEndian.Uint32(file[second+8:]))
	a, err := ReadCapture(bytes.NewReader(file[:third+20]), AnalyzeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if !errors.As(a.Err, &ce) || ce.Offset != int64(third) || ce.Packet != 3 || !errors.Is(ce, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want truncated at offset %d packet 3", a.Err, third)
	}
	if a.Packets != 2 || len(a.Records) != 1 {
		t.Errorf("%d packets %d records before the cut", a.Packets, len(a.Records))
	}
	if !strings.Contains(ce.Error(), "byte offset") {
		t.Errorf("message %q lacks the offset", ce.Error())
	}
}

// A record whose length is nonsense is reported where it is.
func TestSourceCorruptRecord(t *testing.T) {
	file := threePackets(t)
	second := 24 + 16 + int(binary.LittleEndian.Uint32(file[24+8:]))
	binary.LittleEndian.PutUint32(file[second+8:], 0x7fffffff)
	a, err := ReadCapture(bytes.NewReader(file), AnalyzeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if !errors.As(a.Err, &ce) || ce.Offset != int64(second) || a.Packets != 1 {
		t.Fatalf("err %v after %d packets, want corrupt at %d", a.Err, a.Packets, second)
	}
}

func TestSourceBadHeaders(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":      nil,
		"short":      {0xd4, 0xc3},
		"not a pcap": []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"),
	} {
		if _, err := ReadCapture(bytes.NewReader(data), AnalyzeOptions{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A link type the decoder does not know is refused up front.
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	w.WriteFileHeader(65535, layers.LinkTypeIEEE802_11)
	if _, err := ReadCapture(&b, AnalyzeOptions{}); !errors.Is(err, ErrLinkType) {
		t.Errorf("802.11 capture: err %v", err)
	}
}
