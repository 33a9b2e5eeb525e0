package sampler

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// FuzzReadCapture feeds arbitrary files to the pcap/pcapng reader, the
// decoder and the tracker: truncated and corrupt files must give an error,
// never a panic, and the report must still build.
func FuzzReadCapture(f *testing.F) {
	f.Add(capture(f, 0, handshake(time.Millisecond)...))
	f.Add(capture(f, 60, append(handshake(time.Millisecond),
		pkt{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 101, ack: 5001, payload: 900, at: 5 * time.Millisecond, vlan: true})...))
	f.Add(capture(f, 0, pkt{src: "[fd00::1]:5000", dst: "[fd00::2]:80", flags: FlagSYN | FlagRST, seq: 1},
		pkt{src: "[fd00::2]:80", dst: "[fd00::1]:5000", flags: FlagSYN | FlagFIN, seq: 2, at: -time.Second}))
	ng := []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0}
	f.Add(ng)
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ReadCapture(bytes.NewReader(data), AnalyzeOptions{MaxConnections: 64})
		if err != nil {
			return
		}
		rep := a.Report(AnalyzeOptions{})
		var b bytes.Buffer
		if err := rep.WriteText(&b, 10); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDecode feeds arbitrary frames to the decoder and the live tracker
// (with peers, timeouts and a tiny table): odd flag combinations (SYN+RST,
// SYN+FIN), wrapped sequence numbers, IPv6 extension headers, fragments
// and timestamps that go backwards must never panic.
func FuzzDecode(f *testing.F) {
	for _, p := range []pkt{
		{src: cli, dst: srv, flags: FlagSYN | FlagRST, seq: 0xffffffff},
		{src: cli, dst: srv, flags: FlagSYN | FlagFIN, seq: 1, mss: 100},
		{src: "[fd00::1]:5000", dst: "[fd00::2]:80", flags: FlagACK, payload: 10},
		{src: cli, dst: srv, flags: FlagACK | FlagPSH, payload: 20, vlan: true},
	} {
		f.Add(p.frame(f), int64(0), uint8(1))
	}
	ip := make([]byte, 40)
	ip[0], ip[6] = 0x60, 44 // IPv6 with a fragment header next
	f.Add(ip, int64(-1e9), uint8(101))
	f.Fuzz(func(t *testing.T, frame []byte, ts int64, lt uint8) {
		d := NewDecoder()
		tr, _ := liveTracker(2, Config{MaxConnections: 4, SYNTimeout: time.Second, ResponseTimeout: time.Second, IdleTimeout: 5 * time.Second})
		var p Packet
		// The same frame three times at moving times exercises
		// retransmission, duplicate and timeout paths.
		for i := int64(0); i < 3; i++ {
			if d.Decode(frame, layers.LinkType(lt), &p) != nil || p.Kind == KindOther {
				return
			}
			p.TS = ts + i*int64(time.Second)*int64(1-2*(i&1))
			tr.Handle(&p, i == 1)
			if len(frame) > 4 {
				// Flip the flags and sequence for the next round.
				frame = append([]byte(nil), frame...)
				binary.BigEndian.PutUint32(frame[len(frame)-4:], uint32(ts))
			}
		}
		tr.Tick(ts + int64(time.Minute))
		tr.Flush()
	})
}

// FuzzDecodeIPTCP holds the IP/TCP fast path to the parser it stands in
// for: from the same bytes, the same Packet, or an error from both. The
// first byte's version picks IPv4 or IPv6, as for a raw-IP capture.
func FuzzDecodeIPTCP(f *testing.F) {
	for _, p := range []pkt{
		{src: cli, dst: srv, flags: FlagSYN, mss: 1460},
		{src: cli, dst: srv, flags: FlagACK | FlagPSH, payload: 20},
		{src: cli, dst: srv, flags: FlagSYN | FlagRST | FlagFIN, seq: 0xffffffff},
		{src: "[fd00::1]:5000", dst: "[fd00::2]:80", flags: FlagSYN, mss: 1220},
		{src: "[fd00::1]:5000", dst: "[fd00::2]:80", flags: FlagACK, payload: 10},
	} {
		f.Add(p.frame(f)[14:])
	}
	frag := pkt{src: cli, dst: srv, flags: FlagACK, payload: 8}.frame(f)[14:]
	frag[6] = 0x20 // more fragments
	f.Add(frag)
	opts := pkt{src: cli, dst: srv, flags: FlagACK}.frame(f)[14:]
	opts[0] = 0x46 // a header length covering 4 bytes of the TCP header as options
	f.Add(opts)
	hbh := pkt{src: "[fd00::1]:5000", dst: "[fd00::2]:80", flags: FlagACK, payload: 16}.frame(f)[14:]
	hbh[6], hbh[40], hbh[41] = 0, 6, 0 // a hop-by-hop header (eaten from the TCP bytes) naming TCP next
	f.Add(hbh)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || data[0]>>4 != 4 && data[0]>>4 != 6 {
			return
		}
		ipv6 := data[0]>>4 == 6
		fast, slow := NewDecoder(), NewDecoder()
		parser := slow.ip4p
		if ipv6 {
			parser = slow.ip6p
		}
		var pf, ps Packet
		ef := fast.decodeIPTCP(data, ipv6, &pf)
		es := slow.decode(parser, data, &ps)
		if (ef == nil) != (es == nil) {
			t.Fatalf("fast path error %v, parser error %v", ef, es)
		}
		if pf != ps {
			t.Fatalf("fast path decoded\n%+v\nthe parser\n%+v", pf, ps)
		}
	})
}
