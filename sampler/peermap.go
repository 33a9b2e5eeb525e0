package sampler

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
)

// PeerMap names peers: each entry maps a CIDR to a name, so that all
// addresses of a service, a subnet or a cloud region count as one peer.
// Addresses no entry covers are peers of their own.
type PeerMap struct {
	entries []peerMapEntry // longest prefix first
}

type peerMapEntry struct {
	prefix netip.Prefix
	name   string
}

// MaxPeerMapEntries bounds the file, which is scanned once per new
// connection.
const MaxPeerMapEntries = 4096

// ParsePeerMap reads lines of "CIDR [NAME]" ("#" starts a comment). An
// entry without a name is labelled with its CIDR. A name must not look
// like an address and must not be "other", so labels stay unambiguous.
func ParsePeerMap(r io.Reader) (*PeerMap, error) {
	pm := &PeerMap{}
	s := bufio.NewScanner(r)
	line := 0
	for s.Scan() {
		line++
		text, _, _ := strings.Cut(s.Text(), "#")
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		if len(f) > 2 {
			return nil, fmt.Errorf("peer map line %d: want \"CIDR [NAME]\", got %d fields", line, len(f))
		}
		p, err := parsePrefix(f[0])
		if err != nil {
			return nil, fmt.Errorf("peer map line %d: %w", line, err)
		}
		name := p.String()
		if len(f) == 2 {
			name = f[1]
			if _, err := netip.ParseAddr(name); err == nil || name == OtherPeer {
				return nil, fmt.Errorf("peer map line %d: name %q would be mistaken for a peer address or %q", line, name, OtherPeer)
			}
		}
		if len(pm.entries) == MaxPeerMapEntries {
			return nil, fmt.Errorf("peer map: more than %d entries", MaxPeerMapEntries)
		}
		pm.entries = append(pm.entries, peerMapEntry{p, name})
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("peer map: %w", err)
	}
	sort.SliceStable(pm.entries, func(i, j int) bool { return pm.entries[i].prefix.Bits() > pm.entries[j].prefix.Bits() })
	return pm, nil
}

// parsePrefix accepts a CIDR or a bare address (a host).
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

func (pm *PeerMap) key(a Addr) peerKey {
	if pm != nil && len(pm.entries) > 0 {
		ip := a.Netip()
		for i := range pm.entries {
			if pm.entries[i].prefix.Contains(ip) {
				return peerKey{group: int32(i)}
			}
		}
	}
	return peerKey{addr: a, group: -1}
}

func (pm *PeerMap) label(k peerKey) string {
	if k.group >= 0 {
		return pm.entries[k.group].name
	}
	return k.addr.String()
}

// Label returns the peer label of an address: its entry's name, or the
// address itself.
func (pm *PeerMap) Label(a Addr) string { return pm.label(pm.key(a)) }
