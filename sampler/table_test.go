package sampler

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// The table must agree with a map on every lookup through random inserts
// and removes, grow past its initial size, and keep its LRU order.
func TestTableAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const capacity = 5000
	tbl := newTable(capacity)
	model := map[flowKey]int32{}
	randKey := func() flowKey {
		// Few distinct values, so keys collide and probe chains form.
		k, _ := newKey(AddrFrom4([]byte{10, 0, 0, byte(r.IntN(8))}), AddrFrom4([]byte{10, 0, 1, byte(r.IntN(8))}),
			uint16(r.IntN(200)), 80)
		return k
	}
	for i := range 200000 {
		k := randKey()
		h := k.hash(tbl.seed)
		idx, ok := model[k]
		got := tbl.lookup(&k, h)
		if ok != (got >= 0) || ok && got != idx {
			t.Fatalf("step %d: lookup = %d, model has %d (%v)", i, got, idx, ok)
		}
		switch {
		case ok && r.IntN(2) == 0:
			tbl.remove(idx)
			delete(model, k)
		case !ok && !tbl.full():
			model[k] = tbl.insert(&k, h)
		case ok:
			tbl.touch(idx)
		}
		if tbl.n != len(model) {
			t.Fatalf("step %d: table has %d, model %d", i, tbl.n, len(model))
		}
	}
	// Every live entry is on the LRU list exactly once.
	seen := 0
	for idx := tbl.head; idx >= 0; idx = tbl.conn(idx).next {
		seen++
	}
	if seen != len(model) {
		t.Errorf("LRU list holds %d, table %d", seen, len(model))
	}
}

func TestTableLRU(t *testing.T) {
	tbl := newTable(3)
	keys := make([]flowKey, 4)
	for i := range keys {
		keys[i], _ = newKey(AddrFrom4([]byte{10, 0, 0, byte(i)}), AddrFrom4([]byte{10, 0, 1, 1}), 1000, 80)
	}
	var idx [3]int32
	for i := range 3 {
		idx[i] = tbl.insert(&keys[i], keys[i].hash(tbl.seed))
	}
	tbl.touch(idx[0]) // order now 0, 2, 1: the tail is 1
	if !tbl.full() || tbl.tail != idx[1] {
		t.Fatalf("tail %d, want %d", tbl.tail, idx[1])
	}
	tbl.remove(tbl.tail)
	n := tbl.insert(&keys[3], keys[3].hash(tbl.seed))
	if tbl.head != n || tbl.lookup(&keys[1], keys[1].hash(tbl.seed)) >= 0 {
		t.Error("evicted key still found, or new key not at the head")
	}
}

func TestSampleHashSymmetric(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	in := 0
	for range 10000 {
		a, b := AddrFrom4([]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), 1}), AddrFrom4([]byte{10, 9, 9, byte(r.IntN(256))})
		pa, pb := uint16(r.IntN(65536)), uint16(80)
		h := SampleHash(a, b, pa, pb)
		if h != SampleHash(b, a, pb, pa) {
			t.Fatalf("hash differs by direction for %v:%d %v:%d", a, pa, b, pb)
		}
		if h < sampleThreshold(0.1) {
			in++
		}
	}
	// 10% sampling should pick about 1,000 of 10,000 connections.
	if in < 800 || in > 1200 {
		t.Errorf("10%% sampling picked %d of 10000 connections", in)
	}
}

func TestPeerMap(t *testing.T) {
	pm, err := ParsePeerMap(strings.NewReader("# services\n10.0.2.0/24 service-b\n10.0.2.10 db   # one host\nfd00::/64\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ addr, want string }{
		{"10.0.2.10", "db"}, {"10.0.2.11", "service-b"}, {"10.0.3.1", "10.0.3.1"}, {"fd00::5", "fd00::/64"},
	} {
		if got := pm.Label(mustAddr(t, c.addr)); got != c.want {
			t.Errorf("label(%s) = %q, want %q", c.addr, got, c.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33 x\n", "10.0.0.0/8 other\n", "10.0.0.0/8 10.1.1.1\n", "10.0.0.0/8 a b\n", "nonsense\n"} {
		if _, err := ParsePeerMap(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func mustAddr(t *testing.T, s string) Addr {
	t.Helper()
	p, err := parsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return AddrFromNetip(p.Addr())
}

// Past half full, a peer needs a second connection to get a slot, and idle
// slots are freed for new peers.
func TestPeerTableSlots(t *testing.T) {
	pt := NewPeerTable(4, nil)
	now := t0.UnixNano()
	addr := func(i int) Addr { return AddrFrom4([]byte{10, 0, 0, byte(i)}) }
	for i := 1; i <= 2; i++ {
		if pt.resolve(addr(i), now) < 0 {
			t.Fatalf("peer %d got no slot while the table is under half full", i)
		}
	}
	if pt.resolve(addr(3), now) != otherPeer {
		t.Fatal("a new peer got a slot at first sight past half full")
	}
	if pt.resolve(addr(3), now) < 0 {
		t.Fatal("a peer seen twice got no slot")
	}
	pt.tick(now + int64(peerIdle))
	if pt.Len() != 0 {
		t.Errorf("%d slots still taken after every peer went idle", pt.Len())
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for _, ns := range []int64{50e3, 100e3, 100e3 + 1, 2e9, 20e9} {
		h.Observe(ns)
	}
	c := h.Cumulative()
	if c[0.0001] != 2 || c[0.00025] != 3 || c[2.5] != 4 || c[10] != 4 || h.Count != 5 {
		t.Errorf("cumulative %v count %d", c, h.Count)
	}
}
