package exporter

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/internal/netns"
)

// Not declared in the catalog: it is not a metric netcause exports.
var fakeDesc = prometheus.NewDesc("netcause_test_fake_value", "A value from a fake collector.", []string{"netns"}, nil)

type fakeCollector struct {
	err   error
	calls int
}

func (f *fakeCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	f.calls++
	if f.err != nil {
		return f.err
	}
	ch <- prometheus.MustNewConstMetric(fakeDesc, prometheus.GaugeValue, 42, t.Name)
	return nil
}

func scrape(t *testing.T, h *httptest.Server) (int, string) {
	t.Helper()
	resp, err := h.Client().Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// A collector that cannot read its kernel feature reports success 0 and a
// blind spot, logs once, and leaves the rest of the scrape intact.
func TestUnavailableCollector(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	good := &fakeCollector{}
	bad := &fakeCollector{err: fmt.Errorf("open /proc/thread-self/net/stat/x: %w", os.ErrPermission)}
	e := New([]collector.Enabled{
		{Name: "good", Collector: good},
		{Name: "bad", Collector: bad},
	}, netns.Options{SelfName: "host"}, logger)
	h, err := Handler(NewRegistry(e), "/metrics", 0, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	for i := 0; i < 3; i++ {
		code, body := scrape(t, srv)
		if code != 200 {
			t.Fatalf("scrape %d: HTTP %d", i, code)
		}
		for _, want := range []string{
			`netcause_scrape_collector_success{collector="bad"} 0`,
			`netcause_scrape_collector_success{collector="good"} 1`,
			`netcause_collector_unavailable{collector="bad",netns="host",reason="permission_denied"} 1`,
			`netcause_test_fake_value{netns="host"} 42`,
			`netcause_build_info{`,
			`go_goroutines `,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("scrape %d lacks %s", i, want)
			}
		}
		if strings.Contains(body, `netcause_collector_unavailable{collector="good"`) {
			t.Error("working collector reported as a blind spot")
		}
	}
	if n := strings.Count(logs.String(), "collector cannot read namespace"); n != 1 {
		t.Errorf("failure logged %d times over 3 scrapes, want once:\n%s", n, logs.String())
	}

	bad.err = nil
	if _, body := scrape(t, srv); !strings.Contains(body, `netcause_scrape_collector_success{collector="bad"} 1`) {
		t.Error("recovered collector still reports failure")
	}
	if !strings.Contains(logs.String(), "collector recovered") {
		t.Error("recovery not logged")
	}
}

func TestReasons(t *testing.T) {
	for err, want := range map[error]string{
		os.ErrNotExist:                         collector.ReasonNotFound,
		fmt.Errorf("x: %w", syscall.ENOENT):    collector.ReasonNotFound,
		syscall.EPROTONOSUPPORT:                collector.ReasonNotFound,
		syscall.EOPNOTSUPP:                     collector.ReasonNotSupported,
		fmt.Errorf("ioctl: %w", syscall.EPERM): collector.ReasonPermissionDenied,
		os.ErrPermission:                       collector.ReasonPermissionDenied,
		fmt.Errorf("parse error"):              collector.ReasonError,
	} {
		if got := collector.Reason(err); got != want {
			t.Errorf("Reason(%v) = %s, want %s", err, got, want)
		}
	}
}

// A host-only collector runs once, in the exporter's own namespace, however
// many namespaces are targets.
func TestHostOnlyScope(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b"} {
		if err := os.WriteFile(dir+"/"+n, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	host := &fakeCollector{}
	e := New([]collector.Enabled{{Name: "hostonly", Scope: collector.HostOnly, Collector: host}},
		netns.Options{SelfName: "host", Named: true, RunDir: dir}, slog.New(slog.DiscardHandler))
	if _, err := NewRegistry(e).Gather(); err != nil {
		t.Fatal(err)
	}
	if host.calls != 1 {
		t.Errorf("host-only collector ran %d times, want 1", host.calls)
	}
}
