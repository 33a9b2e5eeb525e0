package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/netcause/netcause/internal/nstest"
)

const nobody = "65534"

// setprivArgs runs a command as nobody with exactly caps (CAP_X names) in
// its permitted, inheritable, ambient and bounding sets.
func setprivArgs(t *testing.T, caps []string) []string {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("setpriv not installed (util-linux); make test installs it")
	}
	set := "-all"
	for _, c := range caps {
		set += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	return []string{"setpriv", "--reuid=" + nobody, "--regid=" + nobody, "--clear-groups",
		"--inh-caps=" + set, "--ambient-caps=" + set, "--bounding-set=" + set, "--"}
}

// With exactly the README's capabilities, as a non-root user, every
// collector succeeds in the host and in a named namespace.
func TestRunsWithListedCapabilities(t *testing.T) {
	ns := nstest.New(t)
	ns.Run("ip", "link", "add", "nccap0", "type", "veth", "peer", "name", "nccap1")
	ns.Run("ip", "link", "set", "nccap0", "mtu", "1280", "up")

	caps := readmeCapabilities(t)
	addr := startExporter(t, setprivArgs(t, caps), "--netns.named", "--netns.processes")
	s := scrapeURL(t, "http://"+addr+"/metrics")

	success := s.Find("netcause_scrape_collector_success", nil)
	if len(success) == 0 {
		t.Fatal("no collector reported")
	}
	for _, smp := range success {
		if smp.Value != 1 {
			t.Errorf("collector %s failed with capabilities %v", smp.Labels["collector"], caps)
		}
	}
	for _, u := range s.Find("netcause_collector_unavailable", nil) {
		t.Errorf("blind spot with the listed capabilities: %v", u.Labels)
	}
	// The namespace was entered, not just listed.
	if len(s.Find("netcause_tcp_retransmitted_segments_total", map[string]string{"netns": ns.Name})) != 1 {
		t.Errorf("no series from namespace %s", ns.Name)
	}
}

// Without capabilities the exporter still serves: the collectors that
// need a capability say so as a blind spot, the rest answer.
func TestRunsWithoutCapabilities(t *testing.T) {
	ns := nstest.New(t)
	addr := startExporter(t, setprivArgs(t, nil), "--netns.named")
	s := scrapeURL(t, "http://"+addr+"/metrics") // fails unless HTTP 200

	found := false
	for _, u := range s.Find("netcause_collector_unavailable", map[string]string{"netns": ns.Name}) {
		found = true
		if u.Labels["reason"] != "permission_denied" {
			t.Errorf("entering %s without CAP_SYS_ADMIN: reason %q, want permission_denied", ns.Name, u.Labels["reason"])
		}
	}
	if !found {
		t.Errorf("no blind spot reported for namespace %s without CAP_SYS_ADMIN", ns.Name)
	}
	if _, ok := s.Get("netcause_tcp_retransmitted_segments_total", map[string]string{"netns": "host"}); !ok {
		t.Error("host namespace counters missing: an unprivileged read must still work")
	}
}
