// Package e2e runs the built netcause_exporter binary against the real
// kernel: as a non-root user with only the README's capabilities, next to
// node_exporter, and over network namespaces the tests create.
package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/netcause/netcause/internal/nstest"
)

// binary is the exporter built once for the whole package, in a directory
// every user can read, so it can also run as nobody.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "netcause-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = os.Chmod(dir, 0o755)
	binary = filepath.Join(dir, "netcause_exporter")
	build := exec.Command("go", "build", "-o", binary, "github.com/netcause/netcause/cmd/netcause_exporter")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build exporter: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startExporter runs the binary, prefixed by wrap (e.g. setpriv ...), until
// the test ends, and returns its address once /metrics answers.
func startExporter(t *testing.T, wrap []string, args ...string) string {
	t.Helper()
	argv := append(append([]string{}, wrap...), binary)
	return startCommand(t, append(argv, args...)...)
}

// startCommand runs an exporter-toolkit program (netcause, node_exporter)
// on a free loopback port until the test ends.
func startCommand(t *testing.T, argv ...string) string {
	t.Helper()
	addr := freeAddr(t)
	argv = append(argv, "--web.listen-address="+addr)
	cmd := exec.Command(argv[0], argv[1:]...)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "exporter.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("exporter log:\n%s", b)
		}
	})
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			resp.Body.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("exporter did not answer on %s within 5s", addr)
	return ""
}

// scrapeURL fetches a text-format endpoint and returns its samples; it
// fails the test unless the answer is HTTP 200.
func scrapeURL(t *testing.T, url string) nstest.Samples {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	list := make([]*dto.MetricFamily, 0, len(mfs))
	for _, mf := range mfs {
		list = append(list, mf)
	}
	return nstest.FromFamilies(list)
}

// readmeCapabilities returns the capability list of README.md, the one
// list the deployment files and this test share.
func readmeCapabilities(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(b), "<!-- BEGIN capabilities")
	table, _, ok2 := strings.Cut(rest, "<!-- END capabilities -->")
	if !ok1 || !ok2 {
		t.Fatal("README.md lacks the capability markers")
	}
	var caps []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(CAP_[A-Z_]+)`").FindAllStringSubmatch(table, -1) {
		caps = append(caps, m[1])
	}
	if len(caps) == 0 {
		t.Fatal("no capabilities listed in README.md")
	}
	return caps
}
