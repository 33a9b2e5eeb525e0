package scenarios

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Everything the suite changes outside its own memory (namespaces,
// processes, the host's nf_conntrack_max) is undone four ways: by the
// test's cleanup when it ends, by a SIGINT/SIGTERM handler that runs the
// same undo list and exits, by a guardian process that sweeps as soon as
// the suite is gone however it died (SIGKILL included), and by a sweep at
// the next start. What a run left is recognised by the dead pid in its
// name. Child processes also die with the suite (parent-death signal).

// nsPrefix starts the name of every namespace the suite creates:
// ncsc-<pid>-<scenario>-<node>.
const nsPrefix = "ncsc-"

// stateDir keeps the original values of host sysctls a run changed, one
// file per run, so a sweep can restore them after a SIGKILL.
const stateDir = "/run/netcause-scenarios"

// undoList is a stack of undo functions shared by the test and the signal
// handler.
type undoList struct {
	mu     sync.Mutex
	next   int
	undos  map[int]undoEntry
	closed bool
}

type undoEntry struct {
	name string
	fn   func()
}

var undos = &undoList{undos: map[int]undoEntry{}}

// push registers fn; the returned func runs it once and forgets it.
func (u *undoList) push(name string, fn func()) func() {
	u.mu.Lock()
	id := u.next
	u.next++
	u.undos[id] = undoEntry{name, fn}
	u.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			e, ok := u.undos[id]
			delete(u.undos, id)
			u.mu.Unlock()
			if ok {
				e.fn()
			}
		})
	}
}

// runAll runs every pending undo, newest first.
func (u *undoList) runAll() {
	u.mu.Lock()
	ids := make([]int, 0, len(u.undos))
	for id := range u.undos {
		ids = append(ids, id)
	}
	entries := u.undos
	u.undos = map[int]undoEntry{}
	u.mu.Unlock()
	sort.Sort(sort.Reverse(sort.IntSlice(ids)))
	for _, id := range ids {
		entries[id].fn()
	}
}

var signalOnce sync.Once

// handleSignals undoes everything and exits on SIGINT or SIGTERM, so an
// interrupted run leaves no namespace, process or lowered sysctl behind.
func handleSignals() {
	signalOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-ch
			fmt.Fprintf(os.Stderr, "scenarios: %v: undoing every change\n", sig)
			undos.runAll()
			os.Exit(130)
		}()
	})
}

// sweep removes what runs killed without cleanup left: their namespaces
// (and the processes inside) and their sysctl changes.
func sweep() []string {
	var did []string
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, nsPrefix) {
			continue
		}
		pid, ok := pidOf(strings.TrimPrefix(name, nsPrefix))
		if !ok || pid == os.Getpid() || alive(pid) {
			continue
		}
		removeNamespace(name)
		did = append(did, "namespace "+name)
	}
	files, _ := filepath.Glob(filepath.Join(stateDir, "*.json"))
	for _, f := range files {
		pid, ok := pidOf(strings.TrimSuffix(filepath.Base(f), ".json"))
		if !ok || pid == os.Getpid() || alive(pid) {
			continue
		}
		for path, val := range readState(f) {
			if err := os.WriteFile(path, []byte(val), 0o644); err == nil {
				did = append(did, fmt.Sprintf("restored %s=%s", path, val))
			}
		}
		os.Remove(f)
	}
	dirs, _ := filepath.Glob(filepath.Join(stateDir, "*.rundir"))
	for _, f := range dirs {
		pid, ok := pidOf(strings.TrimSuffix(filepath.Base(f), ".rundir"))
		if !ok || pid == os.Getpid() || alive(pid) {
			continue
		}
		if b, err := os.ReadFile(f); err == nil {
			if dir := strings.TrimSpace(string(b)); strings.HasPrefix(filepath.Base(dir), "netcause-scenarios-") {
				os.RemoveAll(dir)
				did = append(did, "run directory "+dir)
			}
		}
		os.Remove(f)
	}
	return did
}

// markRunDir records the run directory for the sweep, and returns what to
// do at the end: remove it, or keep it (then the sweep must not).
func markRunDir(dir string) (remove, keep func(), err error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, nil, err
	}
	marker := filepath.Join(stateDir, strconv.Itoa(os.Getpid())+".rundir")
	if err := os.WriteFile(marker, []byte(dir), 0o600); err != nil {
		return nil, nil, err
	}
	var kept atomic.Bool
	remove = undos.push("run directory", func() {
		if !kept.Load() {
			os.RemoveAll(dir)
		}
		os.Remove(marker)
	})
	keep = func() { kept.Store(true); remove() }
	return remove, keep, nil
}

func pidOf(s string) (int, bool) {
	pid, err := strconv.Atoi(strings.SplitN(s, "-", 2)[0])
	return pid, err == nil && pid > 0
}

func alive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// removeNamespace kills every process inside, then deletes the namespace.
func removeNamespace(name string) {
	if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_ = exec.Command("ip", "netns", "del", name).Run()
}

var stateMu sync.Mutex

func stateFile() string { return filepath.Join(stateDir, strconv.Itoa(os.Getpid())+".json") }

func readState(path string) map[string]string {
	m := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

// setHostSysctl writes a host sysctl after recording its value for the
// sweep, and returns the undo (also registered for the signal handler).
func setHostSysctl(path, value string) (func(), error) {
	stateMu.Lock()
	defer stateMu.Unlock()
	orig, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	origVal := strings.TrimSpace(string(orig))
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	st := readState(stateFile())
	if _, ok := st[path]; !ok {
		st[path] = origVal
	}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(stateFile(), b, 0o600); err != nil {
		return nil, err
	}
	restore := undos.push("restore "+path, func() {
		stateMu.Lock()
		defer stateMu.Unlock()
		_ = os.WriteFile(path, []byte(origVal), 0o644)
		st := readState(stateFile())
		delete(st, path)
		if len(st) == 0 {
			os.Remove(stateFile())
		} else {
			b, _ := json.Marshal(st)
			_ = os.WriteFile(stateFile(), b, 0o600)
		}
	})
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		restore()
		return nil, err
	}
	return restore, nil
}

// startGuardian starts the test binary again as the guardian, which waits
// for this process to end and then sweeps what it left. The pipe to its
// stdin closes when this process exits, whatever kills it.
func startGuardian() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), roleEnv+"=guardian")
	cmd.Stdin = r
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(stateDir, "guardian.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	// Its own process group: a terminal's Ctrl-C must not stop it before
	// it has swept.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	r.Close()
	guardianPipe = w // held open until this process exits
	go func() { _ = cmd.Wait() }()
	return nil
}

var guardianPipe *os.File

// guard is the guardian's life: wait for the suite to go, sweep, exit.
func guard() {
	parent := os.Getppid()
	_, _ = io.Copy(io.Discard, os.Stdin)
	for i := 0; i < 300 && alive(parent); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range sweep() {
		fmt.Fprintln(os.Stderr, "scenarios guardian:", d)
	}
}
