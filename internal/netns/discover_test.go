package netns

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestContainerID(t *testing.T) {
	const id = "3f1c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"
	for name, tc := range map[string]struct{ in, want string }{
		"docker cgroup v2":     {"0::/system.slice/docker-" + id + ".scope\n", id[:12]},
		"containerd kubepods":  {"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-" + id + ".scope\n", id[:12]},
		"cri-o":                {"0::/kubepods/besteffort/pod0a1b/crio-" + id + "\n", id[:12]},
		"cgroup v1 many lines": {"12:pids:/docker/" + id + "\n11:cpu:/docker/" + id + "\n", id[:12]},
		"host process":         {"0::/user.slice/user-0.slice/session-1.scope\n", ""},
		"empty":                {"", ""},
		"short hex is not id":  {"0::/docker-3f1c0d9e.scope\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			if got := ContainerID(strings.NewReader(tc.in)); got != tc.want {
				t.Errorf("ContainerID = %q, want %q", got, tc.want)
			}
		})
	}
}

// fakeProc builds a /proc-like tree whose ns/net entries are plain files:
// distinct files have distinct inodes, hard links share one, which is all
// Discover looks at.
func fakeProc(t *testing.T) (procRoot, runDir string) {
	t.Helper()
	dir := t.TempDir()
	procRoot, runDir = filepath.Join(dir, "proc"), filepath.Join(dir, "run")
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(old, new string) {
		if err := os.MkdirAll(filepath.Dir(new), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(old, new); err != nil {
			t.Fatal(err)
		}
	}
	mk(filepath.Join(procRoot, "1/ns/net")) // host
	link(filepath.Join(procRoot, "1/ns/net"), filepath.Join(procRoot, "self/ns/net"))
	mk(filepath.Join(procRoot, "20/ns/net")) // a container
	_ = os.WriteFile(filepath.Join(procRoot, "20/cgroup"), []byte("0::/docker-"+strings.Repeat("ab", 32)+".scope\n"), 0o644)
	link(filepath.Join(procRoot, "20/ns/net"), filepath.Join(procRoot, "21/ns/net")) // same container
	mk(filepath.Join(procRoot, "30/ns/net"))                                         // no container id
	mk(filepath.Join(runDir, "blue"))                                                // named
	link(filepath.Join(runDir, "blue"), filepath.Join(procRoot, "40/ns/net"))        // a process inside blue
	return procRoot, runDir
}

func TestDiscover(t *testing.T) {
	procRoot, runDir := fakeProc(t)
	d, err := Discover(Options{SelfName: "host", Named: true, Processes: true, RunDir: runDir, ProcRoot: procRoot})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range d.Targets {
		got = append(got, tg.Kind+":"+tg.Name)
	}
	ino30, _ := inode(filepath.Join(procRoot, "30/ns/net"))
	want := []string{"self:host", "named:blue", "process:" + strings.Repeat("ab", 6), "process:ino-" + strconv.FormatUint(ino30, 10)}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("targets = %v, want %v (own first, named by name, processes by PID, one per inode)", got, want)
	}
	if d.Skipped != 0 {
		t.Errorf("skipped = %d", d.Skipped)
	}
	if !d.Targets[0].Self() || d.Targets[1].Self() {
		t.Error("only the first target is the exporter's own namespace")
	}
}

func TestDiscoverMax(t *testing.T) {
	procRoot, runDir := fakeProc(t)
	d, err := Discover(Options{Named: true, Processes: true, Max: 2, RunDir: runDir, ProcRoot: procRoot})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Targets) != 2 || d.Skipped != 2 {
		t.Errorf("got %d targets, %d skipped; want 2 and 2", len(d.Targets), d.Skipped)
	}
}

func TestDiscoverDefaultsToSelf(t *testing.T) {
	procRoot, runDir := fakeProc(t)
	d, err := Discover(Options{RunDir: runDir, ProcRoot: procRoot})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Targets) != 1 || d.Targets[0].Name != "host" {
		t.Errorf("targets = %+v, want only the own namespace", d.Targets)
	}
}
