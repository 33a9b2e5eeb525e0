package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netcause/netcause/test/deploy"
)

// scratch holds what the tests build once per run (the exporter binary).
var scratch string

func TestMain(m *testing.M) {
	var err error
	scratch, err = os.MkdirTemp("", "netcause-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(scratch)
	os.Exit(code)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := deploy.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// tool returns a binary tools.sh built. A missing one fails the test: the
// deploy tests never skip.
func tool(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), deploy.BinDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run test/deploy/tools.sh first (make test-deploy does): %v", p, err)
	}
	return p
}

// hostTool returns a binary from PATH, failing with the Debian package to
// install (test/setup.sh installs it on a fresh machine).
func hostTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (test/setup.sh does)", name, pkg)
	}
	return p
}

// run runs a command with a time limit and returns its combined output.
func run(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %s: %w", name, timeout, err)
	}
	return out.String(), err
}

// mustRun is run that fails the test on error.
func mustRun(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := run(t, timeout, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

var (
	exporterOnce sync.Once
	exporterPath string
	exporterErr  error
)

// exporter builds cmd/netcause_exporter from the working tree, once per
// test run, statically as the image and the Makefile do.
func exporter(t *testing.T) string {
	t.Helper()
	exporterOnce.Do(func() {
		exporterPath = filepath.Join(scratch, "netcause_exporter")
		cmd := exec.Command("go", "build", "-trimpath", "-o", exporterPath, "./cmd/netcause_exporter")
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			exporterErr = fmt.Errorf("build netcause_exporter: %v\n%s", err, out)
		}
	})
	if exporterErr != nil {
		t.Fatal(exporterErr)
	}
	return exporterPath
}
