package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netcause/netcause/sampler"
)

// sharedPcap returns a capture of ../shared/pcaps.
func sharedPcap(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "pcaps", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s missing: the CLI tests need ../shared/pcaps beside the checkout (see shared/README.md)", p)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// libraryTotals analyses file through the library, for comparison.
func libraryTotals(t *testing.T, file string) sampler.Totals {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := sampler.Analyze(f, sampler.AnalyzeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Totals
}

func TestAnalyzeJSON(t *testing.T) {
	file := sharedPcap(t, "retransmit-fast009.pcap")
	code, out, stderr := runCLI(t, "analyze", "--format", "json", file)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Totals      sampler.Totals       `json:"totals"`
		Connections []sampler.ConnReport `json:"connections"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if want := libraryTotals(t, file); rep.Totals != want {
		t.Errorf("CLI totals %+v, library %+v", rep.Totals, want)
	}
	if len(rep.Connections) != rep.Totals.Connections {
		t.Errorf("%d connection rows for %d connections", len(rep.Connections), rep.Totals.Connections)
	}
}

func TestAnalyzeStdinAndCSV(t *testing.T) {
	file := sharedPcap(t, "methods.pcap")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.Write(data); w.Close() }()
	stdin := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = stdin }()
	code, out, stderr := runCLI(t, "analyze", "--format", "csv", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 1 || strings.Join(rows[0], ",") != strings.Join(sampler.CSVHeader, ",") {
		t.Fatalf("header %v", rows[0])
	}
	if want := libraryTotals(t, file).Connections; len(rows)-1 != want {
		t.Errorf("%d rows, want one per connection (%d)", len(rows)-1, want)
	}
}

// A capture cut short still gets its report, then exit code 2 and the
// byte offset.
func TestAnalyzeTruncated(t *testing.T) {
	data, err := os.ReadFile(sharedPcap(t, "206_example_b.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "analyze", cut)
	if code != exitCorrupt {
		t.Fatalf("exit %d, want %d", code, exitCorrupt)
	}
	if !strings.Contains(out, "TCP connections") || !strings.Contains(out, "ends early") {
		t.Errorf("no report before the error:\n%s", out)
	}
	if !strings.Contains(stderr, "byte offset") {
		t.Errorf("stderr lacks the offset: %s", stderr)
	}
}

func TestDiffSameCapture(t *testing.T) {
	file := sharedPcap(t, "get.pcap")
	code, out, stderr := runCLI(t, "diff", "--format", "json", file, file)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep sampler.DiffReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Matched != 1 || rep.Totals.LostAToB != 0 || rep.Totals.LostBToA != 0 || rep.ClockOffsetSeconds != 0 {
		t.Errorf("a capture against itself: %+v offset %v", rep.Totals, rep.ClockOffsetSeconds)
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"analyze"},
		{"analyze", "--format", "xml", "x.pcap"},
		{"analyze", "/nonexistent.pcap"},
		{"analyze", "--local", "not-an-address", "x.pcap"},
		{"diff", "a.pcap"},
	} {
		if code, _, stderr := runCLI(t, args...); code != exitError || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want %d and a message", args, code, stderr, exitError)
		}
	}
}
