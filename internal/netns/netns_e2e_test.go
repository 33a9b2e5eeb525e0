package netns_test

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/netcause/netcause/internal/netns"
	"github.com/netcause/netcause/internal/nstest"
)

func threadNetnsInode(t *testing.T) uint64 {
	t.Helper()
	fi, err := os.Stat("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestDoEntersAndLeaves(t *testing.T) {
	ns := nstest.New(t)
	fi, err := os.Stat("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	want := fi.Sys().(*syscall.Stat_t).Ino
	self, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	selfIno := self.Sys().(*syscall.Stat_t).Ino

	for i := 0; i < 20; i++ { // repeated: a thread left behind would show up
		var inside uint64
		var lo []byte
		if err := ns.Target().Do(func() error {
			inside = threadNetnsInode(t)
			var err error
			lo, err = os.ReadFile(netns.ProcNet + "/dev")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if inside != want {
			t.Fatalf("inside Do: thread namespace %d, want %d", inside, want)
		}
		if got := threadNetnsInode(t); got != selfIno {
			t.Fatalf("after Do: thread namespace %d, want own %d", got, selfIno)
		}
		// The fresh namespace has only lo: the /proc/thread-self view is the
		// target's, not the host's.
		if n := countLines(lo); n != 3 {
			t.Fatalf("namespace /proc/net/dev has %d lines, want 3 (two headers and lo)", n)
		}
	}
}

func TestDoMissingNamespace(t *testing.T) {
	err := netns.Target{Name: "gone", Path: "/run/netns/does-not-exist"}.Do(func() error {
		t.Error("fn ran although the namespace does not exist")
		return nil
	})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want a not-exist error", err)
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
