//go:build scenarios

package scenarios

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process of the suite: Prometheus, Alertmanager, an
// exporter, the HTTP server. It dies with the test binary (parent-death
// signal) and is killed by its undo otherwise.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
	undo func()
}

type procOptions struct {
	env   []string
	files []*os.File // become fd 3, 4, ...
	// ready, if set, is a line the process prints when it is ready.
	ready string
}

// startProc starts args with output to logDir/name.log.
func startProc(logDir, name string, o procOptions, args ...string) (*proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), o.env...)
	cmd.ExtraFiles = o.files
	// Own process group: a terminal's Ctrl-C reaches the suite, whose
	// handler stops the children in order. Pdeathsig covers a SIGKILLed
	// suite.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	var pw *io.PipeWriter
	var readyCh chan struct{}
	if o.ready != "" {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		cmd.Stdout = pw
		readyCh = make(chan struct{})
		go scanReady(pr, logFile, o.ready, readyCh)
	}
	p, err := launch(cmd, name, logPath, logFile, pw)
	if err != nil {
		if pw != nil {
			pw.Close()
		}
		return nil, err
	}
	if readyCh == nil {
		return p, nil
	}
	select {
	case <-readyCh:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before it was ready: %v; log %s:\n%s", name, p.err, logPath, tail(logPath))
	case <-time.After(20 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s not ready after 20s; log %s:\n%s", name, logPath, tail(logPath))
	}
}

// scanReady copies a child's stdout to its log and signals the ready line.
func scanReady(r io.Reader, log io.Writer, ready string, ch chan struct{}) {
	sc := bufio.NewScanner(r)
	var once sync.Once
	for sc.Scan() {
		fmt.Fprintln(log, sc.Text())
		if strings.Contains(sc.Text(), ready) {
			once.Do(func() { close(ch) })
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

func launch(cmd *exec.Cmd, name, logPath string, logFile *os.File, pw *io.PipeWriter) (*proc, error) {
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if pw != nil {
			pw.Close()
		}
		logFile.Close()
		close(p.done)
	}()
	p.undo = undos.push("process "+name, func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	})
	return p, nil
}

// stop kills the process and waits for it.
func (p *proc) stop() { p.undo() }

// signal sends sig and waits up to wait for the process to exit.
func (p *proc) signal(sig syscall.Signal, wait time.Duration) bool {
	_ = syscall.Kill(p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
		p.undo()
		return true
	case <-time.After(wait):
		return false
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the end of a log file for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
