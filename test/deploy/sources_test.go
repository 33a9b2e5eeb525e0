package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netcause/netcause/test/deploy"
)

func TestRuleFilesAndDashboardsSelection(t *testing.T) {
	rules, err := deploy.RuleFiles("testdata/repo", "alerts")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || rules[0].Name != "generated-netcause-rules.yaml" || rules[0].From != "alerts/generated/netcause.rules.yml" {
		t.Errorf("rule files %+v, want only alerts/generated/netcause.rules.yml as generated-netcause-rules.yaml", names(rules))
	}
	dash, err := deploy.Dashboards("testdata/repo", "dashboards")
	if err != nil {
		t.Fatal(err)
	}
	if len(dash) != 1 || dash[0].Name != "overview.json" {
		t.Errorf("dashboards %+v, want only overview.json", names(dash))
	}
	if s, err := deploy.RuleFiles(t.TempDir(), "alerts"); err != nil || len(s) != 0 {
		t.Errorf("missing alerts/: %v, %v; want nothing and no error", s, err)
	}
	if s, err := deploy.Dashboards(t.TempDir(), "dashboards"); err != nil || len(s) != 0 {
		t.Errorf("missing dashboards/: %v, %v; want nothing and no error", s, err)
	}
}

func names(srcs []deploy.Source) []string {
	var n []string
	for _, s := range srcs {
		n = append(n, s.From+"→"+s.Name)
	}
	return n
}

func TestRuleFilesErrors(t *testing.T) {
	group := func(name string) string { return "groups:\n  - name: " + name + "\n    rules: []\n" }
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"same group twice", map[string]string{"a.yml": group("g"), "b.yaml": group("g")}, `rule group "g" is defined in both`},
		{"group without name", map[string]string{"a.yml": "groups:\n  - rules: []\n"}, "group 1 has no name"},
		{"broken yaml", map[string]string{"a.yml": "groups: [\n"}, "alerts/a.yml"},
		{"name clash", map[string]string{"a_b.yml": group("x"), "a-b.yml": group("y")}, `both map to the chart file name "a-b.yaml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(root, "alerts", name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := deploy.RuleFiles(root, "alerts")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReadmeCapabilities(t *testing.T) {
	table := func(rows ...string) string {
		return "intro\n<!-- BEGIN capabilities: x -->\n| capability | needed by |\n|---|---|\n" +
			strings.Join(rows, "\n") + "\n<!-- END capabilities -->\nmore `CAP_CHOWN` text\n"
	}
	for _, tc := range []struct {
		name   string
		readme string
		want   []string
		err    string
	}{
		{"two rows", table("| `CAP_SYS_ADMIN` | setns |", "| `CAP_NET_RAW` | AF_PACKET |"), []string{"CAP_SYS_ADMIN", "CAP_NET_RAW"}, ""},
		{"no markers", "| `CAP_SYS_ADMIN` | x |\n", nil, "markers"},
		{"no end marker", "<!-- BEGIN capabilities -->\n| `CAP_SYS_ADMIN` | x |\n", nil, "markers"},
		{"empty table", table(), nil, "no `CAP_NAME` rows"},
		{"typo", table("| `CAP_SYS_ADMIN` | x |", "| CAP_NET_RAW | y |"), nil, "row"},
		{"lowercase", table("| `cap_net_raw` | y |"), nil, "is not a `CAP_NAME`"},
		{"twice", table("| `CAP_NET_RAW` | x |", "| `CAP_NET_RAW` | y |"), nil, "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := deploy.ReadmeCapabilities([]byte(tc.readme))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestUnitCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name              string
		unit              string
		ambient, bounding []string
		err               string
	}{
		{"plain", "[Service]\nAmbientCapabilities=CAP_A CAP_B\nCapabilityBoundingSet=CAP_A CAP_B\n",
			[]string{"CAP_A", "CAP_B"}, []string{"CAP_A", "CAP_B"}, ""},
		{"accumulate and reset", "[Service]\nAmbientCapabilities=CAP_X\nAmbientCapabilities=\nAmbientCapabilities=CAP_A\nAmbientCapabilities=CAP_B\n",
			[]string{"CAP_A", "CAP_B"}, nil, ""},
		{"other section ignored", "[Unit]\nAmbientCapabilities=CAP_X\n[Service]\n# AmbientCapabilities=CAP_Y\nCapabilityBoundingSet=CAP_A\n",
			nil, []string{"CAP_A"}, ""},
		{"inverted", "[Service]\nCapabilityBoundingSet=~CAP_SYS_ADMIN\n", nil, nil, "inverted"},
		{"not a name", "[Service]\nAmbientCapabilities=CAP_A ~CAP_B\n", nil, nil, "is not a CAP_NAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, err := deploy.UnitCapabilities([]byte(tc.unit))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(a, tc.ambient) || !slices.Equal(b, tc.bounding) {
				t.Fatalf("got %v %v %v; want %v %v", a, b, err, tc.ambient, tc.bounding)
			}
		})
	}
}

func TestSplitDocs(t *testing.T) {
	got := deploy.SplitDocs("---\n# Source: a\nkind: A\n---\n\n---\n# Source: b\nkind: B")
	want := []string{"# Source: a\nkind: A\n", "# Source: b\nkind: B\n"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
