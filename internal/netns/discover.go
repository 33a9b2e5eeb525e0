package netns

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Options says which namespaces Discover returns besides the exporter's own.
type Options struct {
	// SelfName is the netns label of the exporter's own namespace.
	SelfName string
	// Named adds every namespace under RunDir (ip netns add).
	Named bool
	// Processes adds the namespace of every running process (containers).
	Processes bool
	// Max caps the number of targets, the exporter's own included.
	Max int
	// RunDir and ProcRoot default to /run/netns and /proc; tests move them.
	RunDir   string
	ProcRoot string
}

// Discovery is the result of one Discover call.
type Discovery struct {
	Targets []Target
	// Skipped counts distinct namespaces left out because of Options.Max.
	Skipped int
	// Unreadable counts processes whose namespace could not be inspected
	// for lack of permission (CAP_SYS_PTRACE): a blind spot.
	Unreadable int
}

// Discover lists the namespaces to read, deduplicated by inode, in a stable
// order: own namespace first, then named ones by name, then process
// namespaces by lowest PID. Namespaces past Max are counted, not returned.
func Discover(o Options) (Discovery, error) {
	if o.RunDir == "" {
		o.RunDir = "/run/netns"
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.SelfName == "" {
		o.SelfName = "host"
	}
	selfIno, err := inode(filepath.Join(o.ProcRoot, "self/ns/net"))
	if err != nil {
		return Discovery{}, fmt.Errorf("own network namespace: %w", err)
	}
	seen := map[uint64]bool{selfIno: true}
	d := Discovery{Targets: []Target{{Name: o.SelfName, Inode: selfIno, Kind: "self"}}}
	add := func(t Target) {
		if seen[t.Inode] {
			return
		}
		seen[t.Inode] = true
		if o.Max > 0 && len(d.Targets) >= o.Max {
			d.Skipped++
			return
		}
		d.Targets = append(d.Targets, t)
	}

	if o.Named {
		entries, err := os.ReadDir(o.RunDir)
		if err != nil && !os.IsNotExist(err) {
			return d, fmt.Errorf("list named namespaces: %w", err)
		}
		// ReadDir sorts by name.
		for _, e := range entries {
			p := filepath.Join(o.RunDir, e.Name())
			ino, err := inode(p)
			if err != nil {
				continue // removed meanwhile, or a stale mount point
			}
			add(Target{Name: e.Name(), Inode: ino, Path: p, Kind: "named"})
		}
	}

	if o.Processes {
		pids, err := listPIDs(o.ProcRoot)
		if err != nil {
			return d, err
		}
		for _, pid := range pids {
			p := filepath.Join(o.ProcRoot, strconv.Itoa(pid), "ns/net")
			ino, err := inode(p)
			if errors.Is(err, fs.ErrPermission) {
				d.Unreadable++
				continue
			}
			if err != nil || seen[ino] {
				continue // process gone meanwhile, or a namespace already listed
			}
			name := ""
			if f, err := os.Open(filepath.Join(o.ProcRoot, strconv.Itoa(pid), "cgroup")); err == nil {
				name = ContainerID(f)
				f.Close()
			}
			if name == "" {
				name = "ino-" + strconv.FormatUint(ino, 10)
			}
			add(Target{Name: name, Inode: ino, Path: p, Kind: "process"})
		}
	}
	return d, nil
}

func listPIDs(procRoot string) ([]int, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// inode returns the namespace inode behind an nsfs file or bind mount.
func inode(path string) (uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("%s: no inode in stat result", path)
	}
	return st.Ino, nil
}

var containerIDRe = regexp.MustCompile(`[0-9a-f]{64}`)

// ContainerID extracts a short container id from /proc/PID/cgroup content
// as written by Docker, containerd, CRI-O and Podman (a 64-hex-digit id in
// the cgroup path). It returns "" when the process is not in a container.
func ContainerID(cgroup io.Reader) string {
	s := bufio.NewScanner(cgroup)
	id := ""
	for s.Scan() {
		line := s.Text()
		// hierarchy-ID:controllers:path; the id is in the path.
		if i := strings.LastIndexByte(line, ':'); i >= 0 {
			line = line[i+1:]
		}
		if m := containerIDRe.FindAllString(line, -1); len(m) > 0 {
			id = m[len(m)-1]
		}
	}
	if id == "" {
		return ""
	}
	return id[:12]
}
