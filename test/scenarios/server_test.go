package scenarios

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The service under test: a small HTTP/1.1 server (plus a line protocol for
// long-lived pooled connections) that the test binary becomes inside the
// server namespace, a process of its own so a scenario can kill it. Its
// behaviour is read from a mode file at every request, so the suite
// switches it without a control channel through the network under test.
//
//	normal  answer at once
//	slow    answer after the slow delay
//	hang    read the request and never answer; hold the connection
//	slowaccept  accept one connection per slowAcceptEvery (with a tiny
//	        backlog, NCS_BACKLOG, the listen queue overflows)
//
// "Killed" is SIGKILL from the suite; SIGTERM closes the listener, lets
// the requests in flight finish and exits (a port that simply closes).

// Server settings, passed in the environment.
const (
	envListen   = "NCS_LISTEN"    // address to listen on
	envModeFile = "NCS_MODE_FILE" // file holding the mode
	envSlow     = "NCS_SLOW"      // delay of mode slow
	envBacklog  = "NCS_BACKLOG"   // listen() backlog; 0: the kernel's somaxconn
)

// Server modes.
const (
	modeNormal = "normal"
	modeSlow   = "slow"
	modeHang   = "hang"
	// modeSlowAccept leaves connections in the accept queue.
	modeSlowAccept  = "slowaccept"
	slowAcceptEvery = 1500 * time.Millisecond
)

// Bounds that keep a misbehaving client from holding the server forever.
const (
	maxHeaderBytes = 64 << 10
	maxBodyBytes   = 8 << 20
	connLifetime   = 90 * time.Second
	readyLine      = "httpserver ready"
)

type serverConfig struct {
	listen   string
	modeFile string
	slow     time.Duration
	backlog  int
}

func serverConfigFromEnv() (serverConfig, error) {
	c := serverConfig{listen: os.Getenv(envListen), modeFile: os.Getenv(envModeFile), slow: 2200 * time.Millisecond}
	if c.listen == "" || c.modeFile == "" {
		return c, fmt.Errorf("%s and %s are required", envListen, envModeFile)
	}
	var err error
	if v := os.Getenv(envSlow); v != "" {
		if c.slow, err = time.ParseDuration(v); err != nil {
			return c, fmt.Errorf("%s: %w", envSlow, err)
		}
	}
	if v := os.Getenv(envBacklog); v != "" {
		if c.backlog, err = strconv.Atoi(v); err != nil || c.backlog < 0 {
			return c, fmt.Errorf("%s=%q: want a count", envBacklog, v)
		}
	}
	return c, nil
}

func serveFromEnv() error {
	cfg, err := serverConfigFromEnv()
	if err != nil {
		return err
	}
	l, err := listenBacklog(cfg.listen, cfg.backlog)
	if err != nil {
		return err
	}
	s := &server{cfg: cfg}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		l.Close()
	}()
	fmt.Println(readyLine)
	s.serve(l)
	// Requests in flight finish (a hung one is cut after a few seconds).
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return nil
}

// listenBacklog listens on a TCP address with an explicit backlog, which
// net.Listen does not offer (it uses somaxconn).
func listenBacklog(addr string, backlog int) (net.Listener, error) {
	if backlog == 0 {
		return net.Listen("tcp4", addr)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("listen address %q: want IPv4 address:port", addr)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer f.Close()
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		return nil, os.NewSyscallError("listen", err)
	}
	return net.FileListener(f)
}

type server struct {
	cfg serverConfig
	wg  sync.WaitGroup
}

func (s *server) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(connLifetime))
			_ = s.handle(c)
		}()
		if s.mode() == modeSlowAccept {
			time.Sleep(slowAcceptEvery)
		}
	}
}

func (s *server) mode() string {
	b, err := os.ReadFile(s.cfg.modeFile)
	if err != nil {
		return modeNormal
	}
	return strings.TrimSpace(string(b))
}

// delay applies the mode before an answer; false means do not answer.
func (s *server) delay(c net.Conn) bool {
	switch s.mode() {
	case modeSlow:
		time.Sleep(s.cfg.slow)
	case modeHang:
		// Hung: the request was read; hold the connection until the client
		// gives up.
		_, _ = io.Copy(io.Discard, c)
		return false
	}
	return true
}

func (s *server) handle(c net.Conn) error {
	r := bufio.NewReaderSize(c, 4096)
	line, err := readLine(r)
	if err != nil {
		return err
	}
	if line == pingLine {
		return s.pingPong(c, r)
	}
	size, err := parseRequest(line, r)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return err
	}
	if !s.delay(c) {
		return nil
	}
	return writeResponse(c, size)
}

// The line protocol of pooled connections: PING answered by PONG, the way
// a database or RPC client keeps its connections busy.
const (
	pingLine = "PING"
	pongLine = "PONG"
)

func (s *server) pingPong(c net.Conn, r *bufio.Reader) error {
	for {
		if !s.delay(c) {
			return nil
		}
		if _, err := io.WriteString(c, pongLine+"\n"); err != nil {
			return err
		}
		line, err := readLine(r)
		if err != nil {
			return err
		}
		if line != pingLine {
			return fmt.Errorf("pooled connection: got %q", line)
		}
	}
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// parseRequest reads the rest of an HTTP request after its request line
// and returns the response body size asked for with ?size=N (default
// defaultBody).
func parseRequest(line string, r *bufio.Reader) (int, error) {
	f := strings.Fields(line)
	if len(f) != 3 || !strings.HasPrefix(f[2], "HTTP/1.") {
		return 0, fmt.Errorf("bad request line %q", line)
	}
	n := 0
	for {
		h, err := readLine(r)
		if err != nil {
			return 0, err
		}
		if n += len(h) + 2; n > maxHeaderBytes {
			return 0, errors.New("headers too large")
		}
		if h == "" {
			break
		}
	}
	size := defaultBody
	if i := strings.Index(f[1], "size="); i >= 0 {
		v, err := strconv.Atoi(strings.SplitN(f[1][i+len("size="):], "&", 2)[0])
		if err != nil || v < 0 || v > maxBodyBytes {
			return 0, fmt.Errorf("bad size in %q", f[1])
		}
		size = v
	}
	return size, nil
}

// defaultBody is larger than one MTU-100 packet and than one 256-byte MSS
// segment, so responses cross a small MTU in several packets.
const defaultBody = 2048

var bodyChunk = []byte(strings.Repeat("netcause-", 1024))

func writeResponse(w io.Writer, size int) error {
	if _, err := fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", size); err != nil {
		return err
	}
	for size > 0 {
		n := min(size, len(bodyChunk))
		if _, err := w.Write(bodyChunk[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
}
