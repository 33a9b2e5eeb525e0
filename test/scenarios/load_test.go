//go:build scenarios

package scenarios

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadSpec is the client's traffic: service-a calling service-b.
type loadSpec struct {
	target string  // address:port of the service
	rate   float64 // new connections per second, one HTTP request each
	pool   int     // long-lived pooled connections (PING/PONG every poolEvery)
	bulk   int     // bytes of a download started every bulkEvery; 0: none
}

// Bounds of the load generator.
const (
	dialTimeout    = 3 * time.Second // SYN, then retransmits at 1 s and 3 s
	requestTimeout = 4 * time.Second
	bulkTimeout    = 10 * time.Second
	bulkEvery      = time.Second
	maxInFlight    = 48
	poolEvery      = 200 * time.Millisecond
	// The request is larger than one MSS-256 segment and than MTU 100, as
	// real requests with cookies and tokens are.
	requestPad = 700
)

// loadGen runs a loadSpec from the client namespace until stopped.
type loadGen struct {
	spec   loadSpec
	client *node
	stop   chan struct{}
	wg     sync.WaitGroup
	poolWG sync.WaitGroup
	sem    chan struct{}

	ok, failed, skipped, poolErrs atomic.Int64
	errMu                         sync.Mutex
	errs                          map[string]int
}

func startLoad(client *node, spec loadSpec) *loadGen {
	g := &loadGen{spec: spec, client: client, stop: make(chan struct{}), sem: make(chan struct{}, maxInFlight), errs: map[string]int{}}
	if spec.rate > 0 {
		g.wg.Add(1)
		go g.requests()
	}
	g.startPool()
	if spec.bulk > 0 {
		g.wg.Add(1)
		go g.bulkLoop()
	}
	return g
}

func (g *loadGen) requests() {
	defer g.wg.Done()
	tick := time.NewTicker(time.Duration(float64(time.Second) / g.spec.rate))
	defer tick.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-tick.C:
		}
		select {
		case g.sem <- struct{}{}:
		default:
			g.skipped.Add(1)
			continue
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer func() { <-g.sem }()
			g.count(g.request(2048, requestTimeout))
		}()
	}
}

func (g *loadGen) bulkLoop() {
	defer g.wg.Done()
	for {
		select {
		case <-g.stop:
			return
		default:
		}
		start := time.Now()
		g.count(g.request(g.spec.bulk, bulkTimeout))
		// At most one download a second: enough to fill a 1 Mbit/s
		// shaper, without flooding an unshaped veth (and the CPU).
		if wait := bulkEvery - time.Since(start); wait > 0 {
			select {
			case <-g.stop:
				return
			case <-time.After(wait):
			}
		}
	}
}

// startPool opens the pooled connections; each stops at its first error,
// as a pool marks a broken connection and leaves it.
func (g *loadGen) startPool() {
	for i := 0; i < g.spec.pool; i++ {
		g.poolWG.Add(1)
		go func() {
			defer g.poolWG.Done()
			if err := g.pooled(); err != nil {
				g.poolErrs.Add(1)
				g.note("pool: " + classify(err))
			}
		}()
	}
}

// restartPool replaces the pooled connections (after the server
// restarted).
func (g *loadGen) restartPool() {
	g.startPool()
}

func (g *loadGen) count(err error) {
	if err == nil {
		g.ok.Add(1)
		return
	}
	g.failed.Add(1)
	g.note(classify(err))
}

func (g *loadGen) note(what string) {
	g.errMu.Lock()
	g.errs[what]++
	g.errMu.Unlock()
}

// classify names an error the way an engineer reads it.
func classify(err error) string {
	s := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "no route to host", "network is unreachable", "i/o timeout", "EOF", "broken pipe", "short body"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return s
}

// dial opens a TCP connection from inside the client namespace.
func (g *loadGen) dial(timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := g.client.target().Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", g.spec.target, timeout)
		return err
	})
	return c, err
}

// request makes one HTTP/1.1 request on a new connection and reads the
// whole response.
func (g *loadGen) request(size int, timeout time.Duration) error {
	c, err := g.dial(dialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	req := fmt.Sprintf("GET /?size=%d HTTP/1.1\r\nHost: service-b\r\nUser-Agent: netcause-scenarios\r\nX-Pad: %s\r\n\r\n",
		size, strings.Repeat("p", requestPad))
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	status, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200") {
		return fmt.Errorf("status %q", strings.TrimSpace(status))
	}
	length := -1
	for {
		h, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		h = strings.TrimSpace(h)
		if h == "" {
			break
		}
		if v, ok := strings.CutPrefix(strings.ToLower(h), "content-length:"); ok {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	if int(n) != length {
		return fmt.Errorf("short body: %d of %d bytes", n, length)
	}
	return nil
}

// pooled keeps one connection busy until the first error or stop. It
// writes the next PING without first checking whether the peer closed,
// as pools do with a connection they believe idle and healthy.
func (g *loadGen) pooled() error {
	c, err := g.dial(dialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		_ = c.SetDeadline(time.Now().Add(requestTimeout))
		if _, err := io.WriteString(c, pingLine+"\n"); err != nil {
			return err
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.TrimSpace(line) != pongLine {
			return fmt.Errorf("pool: got %q", line)
		}
		select {
		case <-g.stop:
			return nil
		case <-time.After(poolEvery):
		}
	}
}

// halt stops the load and waits for requests in flight (bounded by their
// timeouts).
func (g *loadGen) halt() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.wg.Wait()
	g.poolWG.Wait()
}

// summary says what the load achieved, for the report.
func (g *loadGen) summary() string {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	s := fmt.Sprintf("%d ok, %d failed", g.ok.Load(), g.failed.Load())
	if n := g.skipped.Load(); n > 0 {
		s += fmt.Sprintf(", %d not sent (%d in flight)", n, maxInFlight)
	}
	if g.spec.pool > 0 {
		s += fmt.Sprintf("; %d pooled connections, %d broke", g.spec.pool, g.poolErrs.Load())
	}
	var kinds []string
	for k, n := range g.errs {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, n))
	}
	if len(kinds) > 0 {
		sort.Strings(kinds)
		s += " (" + strings.Join(kinds, ", ") + ")"
	}
	return s
}
