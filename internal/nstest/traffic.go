package nstest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// EchoServer serves TCP echo on addr inside n until the test ends.
func (n *NS) EchoServer(addr string) net.Listener {
	l := n.Listen("tcp", addr)
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	n.t.Cleanup(wg.Wait)
	return l
}

// EchoTraffic opens conns connections from n to addr, each sending size
// bytes and reading them back, every step bounded by timeout. It returns how
// many connections completed; failures are expected when the test drops
// packets on purpose.
func (n *NS) EchoTraffic(t testing.TB, addr string, conns, size int, timeout time.Duration) int {
	t.Helper()
	ok := 0
	buf := make([]byte, size)
	for i := 0; i < conns; i++ {
		c, err := n.Dial("tcp", addr, timeout)
		if err != nil {
			continue
		}
		_ = c.SetDeadline(time.Now().Add(timeout))
		if _, err := c.Write(buf); err == nil {
			if _, err := io.ReadFull(c, buf); err == nil {
				ok++
			}
		}
		c.Close()
	}
	return ok
}

// Quiesce waits (at most limit) until read returns the same value twice in
// a row poll apart, so counters can be compared exactly afterwards.
func Quiesce(t testing.TB, limit, poll time.Duration, read func() string) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	prev := read()
	for time.Now().Before(deadline) {
		time.Sleep(poll)
		cur := read()
		if cur == prev {
			return cur
		}
		prev = cur
	}
	t.Fatalf("counters still moving after %v", limit)
	return ""
}
