// Package synth writes synthetic TCP captures for benchmarks and replay:
// many interleaved connections with handshakes, requests and responses,
// retransmissions, refused and unanswered SYNs and resets, in the pcap
// format a capture with a 128-byte snap length produces. It is
// deterministic for a given seed, so a benchmark and tshark read the same
// traffic.
package synth

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Options shape the traffic.
type Options struct {
	Packets    int     // total packets
	Concurrent int     // connections open at once (default 500)
	PPS        int     // packet rate of the timestamps (default 100,000)
	Seed       uint64  // traffic is the same for the same seed
	Loss       float64 // share of data segments retransmitted (default 0.01)
	Snaplen    int     // bytes kept per packet (default 128)
	Start      time.Time
}

// Stats counts what was written.
type Stats struct {
	Packets, Connections int
}

// Write writes a pcap file to w.
func Write(w io.Writer, o Options) (Stats, error) {
	if o.Concurrent <= 0 {
		o.Concurrent = 500
	}
	if o.PPS <= 0 {
		o.PPS = 100000
	}
	if o.Loss == 0 {
		o.Loss = 0.01
	}
	if o.Snaplen <= 0 {
		o.Snaplen = 128
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(uint32(o.Snaplen), layers.LinkTypeEthernet); err != nil {
		return Stats{}, err
	}
	g := &gen{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed)), buf: gopacket.NewSerializeBuffer()}
	active := make([]*script, 0, o.Concurrent)
	var st Stats
	step := time.Second / time.Duration(o.PPS)
	for st.Packets < o.Packets {
		for len(active) < o.Concurrent {
			active = append(active, g.newScript(st.Connections))
			st.Connections++
		}
		i := g.rng.IntN(len(active))
		s := active[i]
		seg := s.steps[s.pos]
		s.pos++
		if s.pos == len(s.steps) {
			active[i] = active[len(active)-1]
			active = active[:len(active)-1]
		}
		ts := o.Start.Add(time.Duration(st.Packets) * step)
		if err := g.write(pw, s, seg, ts); err != nil {
			return st, err
		}
		st.Packets++
	}
	return st, nil
}

type gen struct {
	o   Options
	rng *rand.Rand
	buf gopacket.SerializeBuffer
}

// seg is one packet of a script: who sends it, its flags and payload
// length; seq and ack are filled from the script's counters.
type seg struct {
	fromServer bool
	flags      uint8
	length     int
	// resend: repeat the sequence numbers of the segment `resend` steps
	// back in the same direction (a retransmission).
	resend bool
	seq    uint32
	ack    uint32
}

// script is one connection's packets, computed when it starts.
type script struct {
	client, server [4]byte
	cport, sport   uint16
	steps          []seg
	pos            int
}

const (
	fFIN = 0x01
	fSYN = 0x02
	fRST = 0x04
	fPSH = 0x08
	fACK = 0x10
)

func (g *gen) newScript(n int) *script {
	r := g.rng
	s := &script{
		client: [4]byte{10, 1, byte(n >> 8 % 64), byte(n)},
		server: [4]byte{10, 2, 0, byte(1 + r.IntN(50))},
		cport:  uint16(32768 + n%28000),
		sport:  []uint16{80, 443, 5432, 6379}[r.IntN(4)],
	}
	cseq, sseq := r.Uint32(), r.Uint32()
	add := func(fromServer bool, flags uint8, length int) {
		sq, ak := &cseq, &sseq
		if fromServer {
			sq, ak = &sseq, &cseq
		}
		st := seg{fromServer: fromServer, flags: flags, length: length, seq: *sq, ack: *ak}
		s.steps = append(s.steps, st)
		adv := uint32(length)
		if flags&(fSYN|fFIN) != 0 {
			adv++
		}
		*sq += adv
		if g.rng.Float64() < g.o.Loss && length > 0 {
			re := st
			re.resend = true
			s.steps = append(s.steps, re)
		}
	}
	switch x := r.Float64(); {
	case x < 0.02: // SYN never answered, retransmitted twice
		for range 3 {
			s.steps = append(s.steps, seg{flags: fSYN, seq: cseq})
		}
		return s
	case x < 0.03: // refused
		s.steps = append(s.steps, seg{flags: fSYN, seq: cseq}, seg{fromServer: true, flags: fRST | fACK, ack: cseq + 1})
		return s
	}
	add(false, fSYN, 0)
	add(true, fSYN|fACK, 0)
	add(false, fACK, 0)
	for range 1 + r.IntN(4) {
		add(false, fPSH|fACK, 100+r.IntN(1300))
		add(true, fACK, 0)
		n := 1 + r.IntN(8)
		for i := range n {
			l := 1448
			if i == n-1 {
				l = 1 + r.IntN(1448)
			}
			add(true, fACK, l)
			if i%2 == 1 || i == n-1 {
				add(false, fACK, 0)
			}
		}
	}
	if r.Float64() < 0.03 {
		add(true, fRST|fACK, 0)
		return s
	}
	add(false, fFIN|fACK, 0)
	add(true, fFIN|fACK, 0)
	add(false, fACK, 0)
	return s
}

var (
	clientMAC = []byte{0x02, 0, 0, 0, 0, 1}
	serverMAC = []byte{0x02, 0, 0, 0, 0, 2}
)

func (g *gen) write(pw *pcapgo.Writer, s *script, st seg, ts time.Time) error {
	src, dst, sp, dp := s.client, s.server, s.cport, s.sport
	smac, dmac := clientMAC, serverMAC
	if st.fromServer {
		src, dst, sp, dp = dst, src, dp, sp
		smac, dmac = dmac, smac
	}
	eth := layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv4}
	ip := layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src[:], DstIP: dst[:], Flags: layers.IPv4DontFragment}
	tcp := layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: st.seq, Ack: st.ack,
		Window: 502, FIN: st.flags&fFIN != 0, SYN: st.flags&fSYN != 0, RST: st.flags&fRST != 0,
		PSH: st.flags&fPSH != 0, ACK: st.flags&fACK != 0}
	if tcp.SYN {
		tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}
		tcp.Window = 64240
	}
	if err := tcp.SetNetworkLayerForChecksum(&ip); err != nil {
		return err
	}
	payload := gopacket.Payload(make([]byte, st.length))
	if err := gopacket.SerializeLayers(g.buf, gopacket.SerializeOptions{FixLengths: true}, &eth, &ip, &tcp, payload); err != nil {
		return fmt.Errorf("serialize: %w", err)
	}
	data := g.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: ts, Length: len(data), CaptureLength: min(len(data), g.o.Snaplen)}
	return pw.WritePacket(ci, data[:ci.CaptureLength])
}
