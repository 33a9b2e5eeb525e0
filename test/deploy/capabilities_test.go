package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netcause/netcause/test/deploy"
)

func readmeCaps(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), deploy.ReadmePath))
	if err != nil {
		t.Fatal(err)
	}
	caps, err := deploy.ReadmeCapabilities(b)
	if err != nil {
		t.Fatal(err)
	}
	return caps
}

func sorted(l []string) []string {
	l = slices.Clone(l)
	slices.Sort(l)
	return l
}

// README's table, the DaemonSet (chart and plain manifests) and the
// systemd unit grant one and the same list of capabilities.
func TestCapabilitiesOneList(t *testing.T) {
	root := repoRoot(t)
	want := sorted(readmeCaps(t))

	lists := map[string][]string{}
	ds := one(t, render(t, chartDir(t)), "DaemonSet")
	lists["chart DaemonSet capabilities.add"] = strs(get(ds, "spec", "template", "spec", "containers", 0, "securityContext", "capabilities", "add"))

	plain, err := os.ReadFile(filepath.Join(root, deploy.ManifestsDir, "netcause.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ds = one(t, parseDocs(t, string(plain)), "DaemonSet")
	lists["deploy/kubernetes/manifests DaemonSet capabilities.add"] = strs(get(ds, "spec", "template", "spec", "containers", 0, "securityContext", "capabilities", "add"))
	for k, l := range lists {
		for i := range l {
			l[i] = "CAP_" + l[i]
		}
		lists[k] = l
	}

	unit, err := os.ReadFile(filepath.Join(root, deploy.UnitPath))
	if err != nil {
		t.Fatal(err)
	}
	ambient, bounding, err := deploy.UnitCapabilities(unit)
	if err != nil {
		t.Fatal(err)
	}
	lists["unit AmbientCapabilities"] = ambient
	lists["unit CapabilityBoundingSet"] = bounding

	for where, got := range lists {
		if !slices.Equal(sorted(got), want) {
			t.Errorf("%s = %v, README lists %v: run deploy/sync.sh", where, sorted(got), want)
		}
	}
}

// Everything deploy/sync.sh writes is up to date: capability lists, the
// chart's copies of alerts/ and dashboards/, the plain manifests.
func TestSyncNoDrift(t *testing.T) {
	root := repoRoot(t)
	plan, err := deploy.MakePlan(root, tool(t, "helm"))
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := plan.Diff(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("deployment files out of date, run deploy/sync.sh:\n  %s", strings.Join(diffs, "\n  "))
	}
	// The check can fail: a changed README list is drift.
	readme, err := os.ReadFile(filepath.Join(root, deploy.ReadmePath))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, dir := range []string{"deploy", deploy.AlertsDir, deploy.DashboardsDir} {
		if _, err := os.Stat(filepath.Join(root, dir)); err == nil {
			mustRun(t, time.Minute, "cp", "-a", filepath.Join(root, dir), tmp+"/")
		}
	}
	changed := strings.Replace(string(readme), "<!-- END capabilities", "| `CAP_SYSLOG` | drift check |\n<!-- END capabilities", 1)
	if err := os.WriteFile(filepath.Join(tmp, deploy.ReadmePath), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err = deploy.MakePlan(tmp, tool(t, "helm"))
	if err != nil {
		t.Fatal(err)
	}
	diffs, err = plan.Diff(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{deploy.ChartValues, deploy.UnitPath, deploy.ManifestsDir + "/netcause.yaml"} {
		if !slices.Contains(diffs, f+": differs") {
			t.Errorf("a capability added to the README does not show as drift in %s (diffs: %v)", f, diffs)
		}
	}
	if err := plan.Apply(tmp); err != nil {
		t.Fatal(err)
	}
	if diffs, _ := plan.Diff(tmp); len(diffs) != 0 {
		t.Errorf("after Apply still out of date: %v", diffs)
	}
}

var exposure = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`)

// systemd-analyze verify finds unknown directives, bad values and a
// missing ExecStart binary; it reports them on its output, sometimes with
// exit status 0, so any output is a failure.
func TestSystemdUnit(t *testing.T) {
	analyze := hostTool(t, "systemd-analyze", "systemd")
	root := repoRoot(t)
	dir := t.TempDir()
	bin := exporter(t)
	install := func(from, to string) {
		b, err := os.ReadFile(filepath.Join(root, from))
		if err != nil {
			t.Fatal(err)
		}
		// The unit's ExecStart must exist for verify; point it at the
		// exporter built from this tree.
		b = []byte(strings.ReplaceAll(string(b), "/usr/local/bin/netcause_exporter", bin))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unit := filepath.Join(dir, "netcause_exporter.service")
	install(deploy.UnitPath, unit)
	dropIn := filepath.Join(dir, "netcause_exporter.service.d", "web-config.conf")
	install("deploy/systemd/web-config.conf", dropIn)

	out, err := run(t, time.Minute, analyze, "verify", unit)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify (with the web-config.conf drop-in): %v\n%s", err, out)
	}

	// The check can fail: an unknown directive is reported.
	bad := filepath.Join(dir, "netcause_exporter.service.d", "zz-bad.conf")
	if err := os.WriteFile(bad, []byte("[Service]\nAmbientCapabilitys=CAP_NET_RAW\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := run(t, time.Minute, analyze, "verify", unit); !strings.Contains(out, "AmbientCapabilitys") {
		t.Errorf("systemd-analyze verify did not report an unknown directive:\n%s", out)
	}
	os.Remove(bad)

	// systemd's own hardening score: keep it in its "OK" band or better.
	out, err = run(t, time.Minute, analyze, "security", "--offline=yes", unit)
	m := exposure.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v, no exposure level in:\n%s", err, out)
	}
	level, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security: exposure %s %s", m[1], m[2])
	if m[2] != "OK" && m[2] != "SAFE" {
		t.Errorf("exposure level %.1f %s; the unit lost hardening:\n%s", level, m[2], out)
	}
}
