package sampler

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
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
		OnEnd:           func(r *ConnRecord) { a.Records = append(a.Records, *r) },
	})
	tr.cfg.OnICMP = func(p *Packet) {
		key, _ := makeKey(p.Src, p.Dst, p.SrcPort, p.DstPort)
		a.ICMP = append(a.ICMP, ICMPRecord{
			TS: p.TS, Kind: p.ICMP, From: p.ICMPFrom, Proto: p.InnerProto, MTU: p.MTU,
			Src: Endpoint{p.Src, p.SrcPort}, Dst: Endpoint{p.Dst, p.DstPort},
			Connected: p.InnerProto == 6 && tr.tbl.lookup(&key, key.hash(tr.tbl.seed)) >= 0,
		})
	}
	var p Packet
	for {
		data, ts, lt, err := src.Next()
		if err != nil {
			if err != io.EOF {
				a.Err = err
			}
			break
		}
		if a.Packets == 0 {
			a.First = ts
		}
		a.Packets++
		a.Last = ts
		if o.Progress != nil && a.Packets&0xffff == 0 {
			o.Progress(src.Offset())
		}
		if err := dec.Decode(data, lt, &p); err != nil {
			a.Undecodable++
			continue
		}
		if p.Kind == KindOther {
			continue
		}
		p.TS = ts
		tr.Handle(&p, false)
	}
	tr.Flush()
	a.Counters = tr.C
	sort.SliceStable(a.Records, func(i, j int) bool { return a.Records[i].Start < a.Records[j].Start })
	if o.Progress != nil {
		o.Progress(src.Offset())
	}
	return a, nil
}

// Analyze reads a capture and summarises it. When the file breaks part
// way, the report covers what came before and the error is returned too.
func Analyze(r io.Reader, o AnalyzeOptions) (*Report, error) {
	a, err := ReadCapture(r, o)
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
