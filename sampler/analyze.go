package sampler

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"slices"
	"time"
)

// AnalyzeOptions tune an offline analysis.
type AnalyzeOptions struct {
	// Local lists this host's addresses; peers and roles are relative to
	// it. Empty: the address taking part in most connections (see
	// Report.LocalInferred).
	Local []netip.Prefix
	// PeerMap names peers (nil: by address).
	PeerMap *PeerMap
	// ResponseTimeout: a request without reply this long before the end
	// of the capture counts as unanswered. 0 means 5 s.
	ResponseTimeout time.Duration
	// MaxConnections caps the connection table; 0 means 1,048,576.
	MaxConnections int
	// Progress, if set, is called now and then with the bytes read.
	Progress func(offset int64)
}

// DefaultResponseTimeout is how long a request may wait for its first
// reply byte before it counts as unanswered.
const DefaultResponseTimeout = 5 * time.Second

// Analysis is the result of reading a capture: every connection and ICMP
// error, before it is summarised per peer.
type Analysis struct {
	Records     []ConnRecord
	ICMP        []ICMPRecord
	Counters    Counters
	Packets     int64 // records in the file
	Undecodable int64 // packets whose TCP or IP header could not be decoded
	First, Last int64 // capture times of the first and last packet, ns
	// Err is why reading stopped early (a *CorruptError), nil at a clean
	// end; everything before it is analysed.
	Err error
}

// ICMPRecord is one ICMP error: who sent it, about which packet.
type ICMPRecord struct {
	TS        int64
	Kind      ICMPKind
	From      Addr
	Src, Dst  Endpoint // of the packet the error quotes
	Proto     uint8
	MTU       uint32
	Connected bool // the quoted packet belongs to a tracked connection
}

// ReadCapture reads a whole pcap or pcapng stream through the connection
// tracker. It returns an error only when nothing can be read (no header,
// unknown link type); a file that breaks later returns what came before,
// with Analysis.Err set.
func ReadCapture(r io.Reader, o AnalyzeOptions) (*Analysis, error) {
	src, err := NewSource(r)
	if err != nil {
		return nil, err
	}
	return ReadSource(src, o)
}

// ReadSource is ReadCapture on an opened Source (see NewSourceBytes).
func ReadSource(src *Source, o AnalyzeOptions) (*Analysis, error) {
	dec := NewDecoder()
	if !dec.SupportsLinkType(src.LinkType()) {
		return nil, fmt.Errorf("%w %v (%d): netcause reads Ethernet, Linux cooked, loopback and raw IP captures",
			ErrLinkType, src.LinkType(), int(src.LinkType()))
	}
	a := &Analysis{}
	resp := o.ResponseTimeout
	if resp == 0 {
		resp = DefaultResponseTimeout
	}
	maxConns := o.MaxConnections
	if maxConns == 0 {
		maxConns = 1 << 20
	}
	tr := NewTracker(Config{
		MaxConnections:  maxConns,
		ResponseTimeout: resp,
		// Records land at their serial: in order of first packet, with no
		// sort at the end.
		OnEnd: func(r *ConnRecord) {
			for uint64(len(a.Records)) <= r.Serial {
				a.Records = append(a.Records, ConnRecord{})
			}
			a.Records[r.Serial] = *r
		},
	})
	tr.cfg.OnICMP = func(p *Packet) {
		key, _ := newKey(p.Src, p.Dst, p.SrcPort, p.DstPort)
		a.ICMP = append(a.ICMP, ICMPRecord{
			TS: p.TS, Kind: p.ICMP, From: p.ICMPFrom, Proto: p.InnerProto, MTU: p.MTU,
			Src: Endpoint{p.Src, p.SrcPort}, Dst: Endpoint{p.Dst, p.DstPort},
			Connected: p.InnerProto == 6 && tr.tbl.lookup(&key, key.hash(tr.tbl.seed)) >= 0,
		})
	}
	if runtime.GOMAXPROCS(0) > 1 {
		// Reading and decoding on one core, the connection logic on
		// another: decoded packets hold no reference to the input, so they
		// travel in batches.
		full, free := make(chan *packetBatch, 4), make(chan *packetBatch, 4)
		for range cap(free) {
			free <- &packetBatch{}
		}
		go func() {
			defer close(full)
			for {
				b := <-free
				more := a.decodeBatch(src, dec, b, o.Progress)
				full <- b
				if !more {
					return
				}
			}
		}()
		for b := range full {
			for i := range b.n {
				tr.Handle(&b.pkts[i], false)
			}
			free <- b
		}
	} else {
		b := &packetBatch{}
		for more := true; more; {
			more = a.decodeBatch(src, dec, b, o.Progress)
			for i := range b.n {
				tr.Handle(&b.pkts[i], false)
			}
		}
	}
	// Flush hands over every remaining connection: room for all at once.
	a.Records = slices.Grow(a.Records, int(tr.C.Connections)-len(a.Records))
	tr.Flush()
	a.Counters = tr.C
	if o.Progress != nil {
		o.Progress(src.Offset())
	}
	return a, nil
}

// packetBatch carries decoded packets from the reader to the tracker. A
// hand-over can cost a goroutine wake-up on each side, so batches are
// large: at 256 packets the wake-ups ate what the second core gained.
type packetBatch struct {
	pkts [4096]Packet
	n    int
}

// decodeBatch fills b with the next TCP segments and ICMP errors of src,
// and reports whether the capture goes on.
func (a *Analysis) decodeBatch(src *Source, dec *Decoder, b *packetBatch, progress func(int64)) bool {
	b.n = 0
	for b.n < len(b.pkts) {
		data, ts, lt, err := src.Next()
		if err != nil {
			if err != io.EOF {
				a.Err = err
			}
			return false
		}
		if a.Packets == 0 {
			a.First = ts
		}
		a.Packets++
		a.Last = ts
		if progress != nil && a.Packets&0xffff == 0 {
			progress(src.Offset())
		}
		p := &b.pkts[b.n]
		if err := dec.Decode(data, lt, p); err != nil {
			a.Undecodable++
			continue
		}
		if p.Kind == KindOther {
			continue
		}
		p.TS = ts
		b.n++
	}
	return true
}

// Analyze reads a capture and summarises it. When the file breaks part
// way, the report covers what came before and the error is returned too.
func Analyze(r io.Reader, o AnalyzeOptions) (*Report, error) {
	src, err := NewSource(r)
	if err != nil {
		return nil, err
	}
	return AnalyzeSource(src, o)
}

// AnalyzeSource is Analyze on an opened Source.
func AnalyzeSource(src *Source, o AnalyzeOptions) (*Report, error) {
	a, err := ReadSource(src, o)
	if err != nil {
		return nil, err
	}
	rep := a.Report(o)
	var ce *CorruptError
	if errors.As(a.Err, &ce) {
		rep.Error = ce.Error()
	}
	return rep, a.Err
}
