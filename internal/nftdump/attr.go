package nftdump

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// attrs iterates over netlink attributes without copying them.
type attrs struct {
	b   []byte
	typ uint16
	val []byte
	err error
}

const nlaTypeMask = 0x3fff // drops NLA_F_NESTED and NLA_F_NET_BYTEORDER

func newAttrs(b []byte) attrs { return attrs{b: b} }

// next moves to the next attribute; it returns false at the end or on a
// malformed attribute, which err then reports.
func (a *attrs) next() bool {
	if len(a.b) == 0 || a.err != nil {
		return false
	}
	if len(a.b) < 4 {
		a.err = fmt.Errorf("attribute: %d trailing bytes", len(a.b))
		return false
	}
	l := int(binary.NativeEndian.Uint16(a.b))
	if l < 4 || l > len(a.b) {
		a.err = fmt.Errorf("attribute length %d out of range (%d left)", l, len(a.b))
		return false
	}
	a.typ = binary.NativeEndian.Uint16(a.b[2:]) & nlaTypeMask
	a.val = a.b[4:l]
	n := (l + 3) &^ 3
	if n > len(a.b) {
		n = len(a.b)
	}
	a.b = a.b[n:]
	return true
}

func be32(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("want a 4-byte value, got %d bytes", len(b))
	}
	return binary.BigEndian.Uint32(b), nil
}

func be64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("want an 8-byte value, got %d bytes", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// cstr returns a NUL-terminated string attribute without its terminator.
func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
