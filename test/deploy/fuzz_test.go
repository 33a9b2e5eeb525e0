package deploy_test

import (
	"regexp"
	"testing"

	"github.com/netcause/netcause/test/deploy"
)

var capName = regexp.MustCompile(`^CAP_[A-Z0-9_]+$`)

// The README parser never panics and returns only unique CAP_ names.
func FuzzReadmeCapabilities(f *testing.F) {
	f.Add([]byte("<!-- BEGIN capabilities -->\n| capability | x |\n|---|---|\n| `CAP_NET_RAW` | y |\n<!-- END capabilities -->\n"))
	f.Add([]byte("<!-- BEGIN capabilities\n|\n| `CAP_` |\n<!-- END capabilities"))
	f.Add([]byte("<!-- END capabilities --><!-- BEGIN capabilities -->"))
	f.Fuzz(func(t *testing.T, b []byte) {
		caps, err := deploy.ReadmeCapabilities(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, c := range caps {
			if !capName.MatchString(c) || seen[c] {
				t.Fatalf("bad or repeated capability %q in %v", c, caps)
			}
			seen[c] = true
		}
	})
}

// The unit parser never panics and returns only CAP_ names.
func FuzzUnitCapabilities(f *testing.F) {
	f.Add([]byte("[Service]\nAmbientCapabilities=CAP_A CAP_B\nCapabilityBoundingSet=\nCapabilityBoundingSet=CAP_A\n"))
	f.Add([]byte("[Service]\nAmbientCapabilities=~CAP_A\n"))
	f.Add([]byte("[Service\n=\n[Service]\n AmbientCapabilities = \t\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, bs, err := deploy.UnitCapabilities(b)
		if err != nil {
			return
		}
		for _, c := range append(a, bs...) {
			if !capName.MatchString(c) {
				t.Fatalf("entry %q returned", c)
			}
		}
	})
}
