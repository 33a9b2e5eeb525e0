package nftdump

import (
	"encoding/binary"
	"errors"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func nlmsg(typ, flags uint16, seq uint32, payload []byte) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(nlmsgHdrLen+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func errPayload(errno int32) []byte {
	return binary.NativeEndian.AppendUint32(nil, uint32(errno))
}

// walkMessages takes every message off one datagram, as Next does.
func walkMessages(b []byte, seq uint32, fn func(typ, flags uint16, p []byte) error, dump bool) (bool, error) {
	for len(b) > 0 {
		typ, flags, p, rest, done, err := nextMessage(b, seq, dump)
		if err != nil || done {
			return done, err
		}
		b = rest
		if p != nil {
			if err := fn(typ, flags, p); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

func TestNextMessage(t *testing.T) {
	rule := uint16(subsysNFTables<<8 | MsgNewRule)
	type seen struct {
		typ, flags uint16
		n          int
	}
	cases := []struct {
		name     string
		datagram []byte
		dump     bool
		done     bool
		err      error
		seen     []seen
	}{
		{"messages then done", append(append(nlmsg(rule, 2, 7, []byte{2, 0, 0, 0}), nlmsg(rule, 2|nlmDumpIntr, 7, []byte{10, 0, 0, 0, 1, 2})...), nlmsg(unix.NLMSG_DONE, 2, 7, errPayload(0))...),
			true, true, nil, []seen{{rule, 2, 4}, {rule, 2 | nlmDumpIntr, 6}}},
		{"other sequence skipped", append(nlmsg(rule, 0, 6, nil), nlmsg(rule, 0, 7, nil)...), true, false, nil, []seen{{rule, 0, 0}}},
		{"error", nlmsg(unix.NLMSG_ERROR, 0, 7, errPayload(-int32(syscall.EPERM))), true, true, syscall.EPERM, nil},
		{"done with error", nlmsg(unix.NLMSG_DONE, 0, 7, errPayload(-int32(syscall.EINTR))), true, true, syscall.EINTR, nil},
		{"ack ends a request", nlmsg(unix.NLMSG_ERROR, 0, 7, errPayload(0)), false, true, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []seen
			done, err := walkMessages(c.datagram, 7, func(typ, flags uint16, p []byte) error {
				got = append(got, seen{typ, flags, len(p)})
				return nil
			}, c.dump)
			if done != c.done || !errors.Is(err, c.err) && (err != nil || c.err != nil) {
				t.Errorf("done %v err %v, want %v %v", done, err, c.done, c.err)
			}
			if len(got) != len(c.seen) {
				t.Fatalf("saw %v, want %v", got, c.seen)
			}
			for i := range got {
				if got[i] != c.seen[i] {
					t.Errorf("message %d: %v, want %v", i, got[i], c.seen[i])
				}
			}
		})
	}
	for name, d := range map[string][]byte{
		"short header": {1, 2, 3, 4, 5},
		"length past end": func() []byte {
			b := nlmsg(rule, 0, 7, nil)
			binary.NativeEndian.PutUint32(b, 400)
			return b
		}(),
		"length below header": func() []byte {
			b := nlmsg(rule, 0, 7, nil)
			binary.NativeEndian.PutUint32(b, 8)
			return b
		}(),
		"short error": nlmsg(unix.NLMSG_ERROR, 0, 7, []byte{1}),
	} {
		if _, err := walkMessages(d, 7, func(uint16, uint16, []byte) error { return nil }, true); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestComment(t *testing.T) {
	for _, c := range []struct {
		udata []byte
		want  string
		ok    bool
	}{
		{[]byte{0, 7, 'n', 'o', ' ', 's', 's', 'h', 0}, "no ssh", true},
		{[]byte{5, 1, 9, 0, 3, 'a', 'b', 0}, "ab", true}, // another TLV first
		{[]byte{5, 1, 9}, "", false},
		{[]byte{0, 200, 'x'}, "", false}, // length past the end
		{nil, "", false},
	} {
		got, ok := Comment(c.udata)
		if string(got) != c.want || ok != c.ok {
			t.Errorf("Comment(%v) = %q %v, want %q %v", c.udata, got, ok, c.want, c.ok)
		}
	}
}

func TestParseErrors(t *testing.T) {
	var r Rule
	var c Chain
	for name, p := range map[string][]byte{
		"no nfgenmsg":       {2, 0},
		"no table":          {2, 0, 0, 0},
		"attribute too big": {2, 0, 0, 0, 200, 0, 1, 0, 'f', 0, 0, 0},
		"trailing bytes":    {2, 0, 0, 0, 1, 2},
	} {
		if err := ParseRule(p, &r); err == nil {
			t.Errorf("ParseRule %s: no error", name)
		}
		if err := ParseChain(p, &c); err == nil {
			t.Errorf("ParseChain %s: no error", name)
		}
	}
	// A handle that is not 8 bytes.
	bad := []byte{2, 0, 0, 0, 8, 0, attrRuleTable, 0, 't', 0, 0, 0, 8, 0, attrRuleChain, 0, 'c', 0, 0, 0, 8, 0, attrRuleHandle, 0, 1, 2, 3, 4}
	if err := ParseRule(bad, &r); err == nil {
		t.Error("4-byte handle: no error")
	}
}

func FuzzNextMessage(f *testing.F) {
	rule := uint16(subsysNFTables<<8 | MsgNewRule)
	f.Add(append(nlmsg(rule, 2, 7, []byte{2, 0, 0, 0}), nlmsg(unix.NLMSG_DONE, 2, 7, errPayload(0))...))
	f.Add(nlmsg(unix.NLMSG_ERROR, 0, 7, errPayload(-1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = walkMessages(b, 7, func(typ, flags uint16, p []byte) error {
			var r Rule
			if ParseRule(p, &r) == nil {
				_, _ = Summarize(r.Exprs)
			}
			return nil
		}, true)
	})
}
