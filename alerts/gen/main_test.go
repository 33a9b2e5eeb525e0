package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netcause/netcause/alerts/render"
)

// TestOverlayOut builds the example overlay into a temporary directory, as
// the fault-scenario suite does: the shipped files stay as they are, the
// output loads in promtool, and its durations are the overlay's.
func TestOverlayOut(t *testing.T) {
	shipped, err := os.ReadFile(filepath.Join("..", render.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := run(filepath.Join("..", "examples", "fast.yaml"), out, "", false); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, render.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, shipped) {
		t.Fatal("the overlay changed nothing")
	}
	for _, want := range []string{"[30s]", "interval: 2s", "for: 6s"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("overlay output lacks %q", want)
		}
	}
	after, _ := os.ReadFile(filepath.Join("..", render.RulesFile))
	if !bytes.Equal(after, shipped) {
		t.Error("building an overlay rewrote the shipped rule file")
	}
	for _, f := range []string{render.PrometheusRuleFile, render.InhibitFile, render.DefaultsFile, render.PintFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (test/setup.sh does)")
	}
	if b, err := exec.Command(promtool, "check", "rules", filepath.Join(out, render.RulesFile)).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, b)
	}
}

// TestCheckMode: -check reports stale files and writes nothing.
func TestCheckMode(t *testing.T) {
	out := t.TempDir()
	if err := run("", out, "", true); err == nil {
		t.Fatal("check of an empty directory passed")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("check mode wrote %d entries", len(entries))
	}
	if err := run("", out, "", false); err != nil {
		t.Fatal(err)
	}
	if err := run("", out, "", true); err != nil {
		t.Errorf("check right after generating: %v", err)
	}
	p := filepath.Join(out, render.RulesFile)
	if err := os.WriteFile(p, []byte("groups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run("", out, "", true); err == nil {
		t.Error("check passed on an edited rule file")
	}
}

func TestBadOverlay(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(cfg, []byte("alerts: {NetcauseNoRoute: {params: {min_rate: x}}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(cfg, t.TempDir(), "", false)
	if err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Errorf("error %v, want a parameter error", err)
	}
}
