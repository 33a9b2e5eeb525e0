package sampler

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// flowKey identifies a TCP connection independently of direction: the
// endpoint that sorts first is a.
type flowKey struct {
	a, b   Addr
	pa, pb uint16
}

// makeKey fills k with the key of a packet's connection and returns the
// packet's direction: 0 when it goes from k.a to k.b, 1 otherwise.
func makeKey(k *flowKey, src, dst *Addr, sport, dport uint16) uint8 {
	if compareEndpoint(src, sport, dst, dport) <= 0 {
		k.a, k.b, k.pa, k.pb = *src, *dst, sport, dport
		return 0
	}
	k.a, k.b, k.pa, k.pb = *dst, *src, dport, sport
	return 1
}

// newKey is makeKey for callers off the hot path.
func newKey(src, dst Addr, sport, dport uint16) (flowKey, uint8) {
	var k flowKey
	d := makeKey(&k, &src, &dst, sport, dport)
	return k, d
}

// compareEndpoint orders endpoints; any total order would do, so the
// words are compared as loaded, without byte swapping.
func compareEndpoint(a *Addr, pa uint16, b *Addr, pb uint16) int {
	le := binary.LittleEndian
	for i := 0; i < 16; i += 8 {
		x, y := le.Uint64(a[i:]), le.Uint64(b[i:])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case pa < pb:
		return -1
	case pa > pb:
		return 1
	}
	return 0
}

// equal compares word by word, which the compiler inlines; == on the
// struct calls memequal.
func (k *flowKey) equal(o *flowKey) bool {
	le := binary.LittleEndian
	return le.Uint64(k.a[8:]) == le.Uint64(o.a[8:]) && le.Uint64(k.b[8:]) == le.Uint64(o.b[8:]) &&
		k.pa == o.pa && k.pb == o.pb && le.Uint64(k.a[:8]) == le.Uint64(o.a[:8]) && le.Uint64(k.b[:8]) == le.Uint64(o.b[:8])
}

// endpoint returns side s (0: a, 1: b) of the key.
func (k *flowKey) endpoint(s uint8) Endpoint {
	if s == 0 {
		return Endpoint{k.a, k.pa}
	}
	return Endpoint{k.b, k.pb}
}

// hash mixes the key with a per-table random seed, so a sender choosing
// addresses cannot aim at one probe chain. It is wyhash's multiply-and-fold
// over the key's 64-bit words.
func (k *flowKey) hash(seed uint64) uint64 {
	const s1, s2, s3 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3
	h1 := mum(binary.LittleEndian.Uint64(k.a[0:8])^seed, binary.LittleEndian.Uint64(k.a[8:16])^s1)
	h2 := mum(binary.LittleEndian.Uint64(k.b[0:8])^s2, binary.LittleEndian.Uint64(k.b[8:16])^seed)
	return mum(h1^(uint64(k.pa)<<16|uint64(k.pb))^s3, h2^seed)
}

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// table is a capped connection table: open addressing with linear probing
// over a slot array, conns in an arena of fixed-size chunks indexed by
// int32, and an LRU list through the arena to evict the least recently
// seen connection when the cap is reached. Chunks are added as the table
// fills and never moved, so growing copies nothing and leaves no garbage;
// the slot array is rebuilt twice as large when it passes half full.
type table struct {
	slots  []uint64 // 0: empty; else hash tag (high 32 bits) | arena index+1
	mask   uint64
	chunks [][]conn
	used   int     // arena entries handed out so far
	free   []int32 // freed arena entries
	max    int
	// LRU list: head is the most recently touched, tail the least.
	head, tail int32
	n          int
	seed       uint64
}

const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
)

func newTable(capacity int) *table {
	if capacity < 1 {
		capacity = 1
	}
	t := &table{max: capacity, head: -1, tail: -1, seed: rand.Uint64()}
	t.rehash(min(capacity, chunkSize))
	return t
}

// conn returns the connection at arena index idx.
func (t *table) conn(idx int32) *conn {
	return &t.chunks[idx>>chunkBits][idx&(chunkSize-1)]
}

// rehash rebuilds the slot array for up to size conns, at most half full.
func (t *table) rehash(size int) {
	n := 1
	for n < size*2 {
		n <<= 1
	}
	t.slots = make([]uint64, n)
	t.mask = uint64(n - 1)
	for idx := t.head; idx >= 0; idx = t.conn(idx).next {
		t.place(idx)
	}
}

func (t *table) place(idx int32) {
	h := t.conn(idx).hash
	i := h & t.mask
	for t.slots[i] != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i] = h>>32<<32 | uint64(idx+1)
}

func (t *table) full() bool { return t.n >= t.max }

// lookup returns the index of the connection with key k, or -1.
func (t *table) lookup(k *flowKey, h uint64) int32 {
	tag := h >> 32
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s == 0 {
			return -1
		}
		if s>>32 == tag {
			idx := int32(uint32(s)) - 1
			if t.conn(idx).key.equal(k) {
				return idx
			}
		}
	}
}

// insert adds a connection with key k, which must not be present and the
// table not full, and returns its index; the conn is zeroed except for its
// key and hash.
func (t *table) insert(k *flowKey, h uint64) int32 {
	var idx int32
	switch {
	case len(t.free) > 0:
		idx = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
	default:
		if t.used == len(t.chunks)*chunkSize {
			t.chunks = append(t.chunks, make([]conn, min(chunkSize, t.max-t.used)))
		}
		idx = int32(t.used)
		t.used++
		if t.used*2 > len(t.slots) {
			t.rehash(min(2*t.used, t.max))
		}
	}
	c := t.conn(idx)
	*c = conn{key: *k, hash: h, prev: -1, next: -1, live: true}
	t.place(idx)
	t.n++
	t.pushFront(idx)
	return idx
}

// remove deletes the connection at idx. Backward-shift deletion keeps
// probe chains intact without tombstones.
func (t *table) remove(idx int32) {
	c := t.conn(idx)
	want := uint64(idx + 1)
	i := c.hash & t.mask
	for uint64(uint32(t.slots[i])) != want {
		i = (i + 1) & t.mask
	}
	j := i
	for {
		j = (j + 1) & t.mask
		s := t.slots[j]
		if s == 0 {
			break
		}
		home := t.conn(int32(uint32(s))-1).hash & t.mask
		// Move s back into the hole at i unless its home lies cyclically
		// in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i] = s
			i = j
		}
	}
	t.slots[i] = 0
	t.unlink(idx)
	c.live = false
	t.free = append(t.free, idx)
	t.n--
}

// clear removes every connection at once.
func (t *table) clear() {
	clear(t.slots)
	t.free = t.free[:0]
	for i := 0; i < t.used; i++ {
		t.conn(int32(i)).live = false
		t.free = append(t.free, int32(i))
	}
	t.head, t.tail, t.n = -1, -1, 0
}

func (t *table) pushFront(idx int32) {
	c := t.conn(idx)
	c.prev, c.next = -1, t.head
	if t.head >= 0 {
		t.conn(t.head).prev = idx
	}
	t.head = idx
	if t.tail < 0 {
		t.tail = idx
	}
}

func (t *table) unlink(idx int32) {
	c := t.conn(idx)
	if c.prev >= 0 {
		t.conn(c.prev).next = c.next
	} else {
		t.head = c.next
	}
	if c.next >= 0 {
		t.conn(c.next).prev = c.prev
	} else {
		t.tail = c.prev
	}
	c.prev, c.next = -1, -1
}

// touch marks idx as most recently seen.
func (t *table) touch(idx int32) {
	if t.head == idx {
		return
	}
	t.unlink(idx)
	t.pushFront(idx)
}
