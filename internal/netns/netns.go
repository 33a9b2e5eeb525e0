// Package netns enters Linux network namespaces and discovers the ones the
// exporter should read.
//
// A network namespace is a property of an OS thread, not of a process, so
// everything that must happen "inside" a namespace (opening a netlink
// socket, reading /proc/thread-self/net/*) runs through Target.Do, which
// pins the goroutine to a thread, switches that thread and switches it back.
// Sockets keep the namespace they were created in, so a caller may also open
// a socket inside Do and use it after Do returns.
package netns

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// ProcNet is the procfs directory that shows the network namespace of the
// calling thread. Readers use it inside Target.Do instead of /proc/net,
// which shows the namespace of the process's main thread.
const ProcNet = "/proc/thread-self/net"

// Target is one network namespace to read.
type Target struct {
	// Name is the value of the netns label: the self name for the
	// exporter's own namespace, the name under /run/netns, a container id,
	// or "ino-<inode>".
	Name string
	// Inode identifies the namespace; two targets with the same inode are
	// the same namespace.
	Inode uint64
	// Path opens the namespace (/run/netns/NAME or /proc/PID/ns/net). Empty
	// for the exporter's own namespace.
	Path string
	// Kind says how the target was found: "self", "named" or "process".
	Kind string
}

// Self reports whether t is the exporter's own namespace, which needs no
// namespace switch (and so no CAP_SYS_ADMIN).
func (t Target) Self() bool { return t.Path == "" }

// Do runs fn with the calling goroutine's OS thread inside t's namespace.
// fn must not start goroutines that depend on the namespace: they run on
// other threads.
func (t Target) Do(fn func() error) error {
	if t.Self() {
		return fn()
	}
	runtime.LockOSThread()

	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open own network namespace: %w", err)
	}
	defer orig.Close()

	target, err := os.Open(t.Path)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open network namespace %s: %w", t.Name, err)
	}
	defer target.Close()

	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", t.Name, os.NewSyscallError("setns", err))
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is stuck in the wrong namespace. Keep it locked: the Go
		// runtime then terminates it when this goroutine exits instead of
		// handing it to another goroutine.
		return fmt.Errorf("return from network namespace %s: %w", t.Name, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}
