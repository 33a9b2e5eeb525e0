package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// The README's capability table sits between these markers; the rest of
// the README is free text.
const (
	readmeBegin = "<!-- BEGIN capabilities"
	readmeEnd   = "<!-- END capabilities"
	// Markers around the generated lines in values.yaml and the unit.
	fileBegin = "# BEGIN capabilities"
	fileEnd   = "# END capabilities"
)

var (
	capCell = regexp.MustCompile("^`(CAP_[A-Z0-9_]+)`$")
	capName = regexp.MustCompile(`^CAP_[A-Z0-9_]+$`)
)

// ReadmeCapabilities returns the capabilities of README.md's table, in its
// order, as CAP_ names. A row whose first cell is not a `CAP_X` name is an
// error, so a typo cannot silently drop a capability.
func ReadmeCapabilities(readme []byte) ([]string, error) {
	body, err := between(readme, readmeBegin, readmeEnd)
	if err != nil {
		return nil, fmt.Errorf("README capability list: %w", err)
	}
	var caps []string
	seen := map[string]bool{}
	for i, line := range body {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cell := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(line, "|"), "|", 2)[0])
		if strings.EqualFold(cell, "capability") || strings.Trim(cell, "-: ") == "" {
			continue // header or separator row
		}
		m := capCell.FindStringSubmatch(cell)
		if m == nil {
			return nil, fmt.Errorf("README capability list, row %d: first cell %q is not a `CAP_NAME`", i+1, cell)
		}
		if seen[m[1]] {
			return nil, fmt.Errorf("README capability list: %s listed twice", m[1])
		}
		seen[m[1]] = true
		caps = append(caps, m[1])
	}
	if len(caps) == 0 {
		return nil, fmt.Errorf("README capability list: no `CAP_NAME` rows between the markers")
	}
	return caps, nil
}

// UnitCapabilities returns the AmbientCapabilities= and
// CapabilityBoundingSet= of a systemd unit's [Service] section, with
// systemd's rules for repeated and empty assignments. An inverted (~) list
// is an error: the unit must name what it grants.
func UnitCapabilities(unit []byte) (ambient, bounding []string, err error) {
	section := ""
	s := bufio.NewScanner(bytes.NewReader(unit))
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section != "[Service]" {
			continue
		}
		var list *[]string
		switch strings.TrimSpace(key) {
		case "AmbientCapabilities":
			list = &ambient
		case "CapabilityBoundingSet":
			list = &bounding
		default:
			continue
		}
		value = strings.TrimSpace(value)
		if value == "" {
			*list = nil // an empty assignment resets the list
			continue
		}
		if strings.HasPrefix(value, "~") {
			return nil, nil, fmt.Errorf("unit line %d: %s is an inverted list; name the capabilities granted", n, key)
		}
		for _, f := range strings.Fields(value) {
			if !capName.MatchString(f) {
				return nil, nil, fmt.Errorf("unit line %d: %s: %q is not a CAP_NAME", n, key, f)
			}
			*list = append(*list, f)
		}
	}
	return ambient, bounding, s.Err()
}

// KubernetesName is a capability as a Pod's securityContext spells it.
func KubernetesName(c string) string { return strings.TrimPrefix(c, "CAP_") }

// valuesWithCapabilities and unitWithCapabilities rewrite the lines
// between the capability markers of values.yaml and of the unit.
func valuesWithCapabilities(values []byte, caps []string) ([]byte, error) {
	return replaceBetween(values, fileBegin, fileEnd, func(indent string) []string {
		lines := []string{indent + "add:"}
		for _, c := range caps {
			lines = append(lines, indent+"  - "+KubernetesName(c))
		}
		return lines
	})
}

func unitWithCapabilities(unit []byte, caps []string) ([]byte, error) {
	list := strings.Join(caps, " ")
	return replaceBetween(unit, fileBegin, fileEnd, func(string) []string {
		return []string{"AmbientCapabilities=" + list, "CapabilityBoundingSet=" + list}
	})
}

// between returns the lines strictly between the line containing begin
// and the next line containing end.
func between(text []byte, begin, end string) ([]string, error) {
	lines := strings.Split(string(text), "\n")
	b, e, err := markerLines(lines, begin, end)
	if err != nil {
		return nil, err
	}
	return lines[b+1 : e], nil
}

func replaceBetween(text []byte, begin, end string, body func(indent string) []string) ([]byte, error) {
	lines := strings.Split(string(text), "\n")
	b, e, err := markerLines(lines, begin, end)
	if err != nil {
		return nil, err
	}
	indent := lines[b][:len(lines[b])-len(strings.TrimLeft(lines[b], " \t"))]
	out := append([]string{}, lines[:b+1]...)
	out = append(out, body(indent)...)
	out = append(out, lines[e:]...)
	return []byte(strings.Join(out, "\n")), nil
}

func markerLines(lines []string, begin, end string) (int, int, error) {
	b, e := -1, -1
	for i, l := range lines {
		if b < 0 && strings.Contains(l, begin) {
			b = i
		} else if b >= 0 && strings.Contains(l, end) {
			e = i
			break
		}
	}
	if b < 0 || e < 0 {
		return 0, 0, fmt.Errorf("markers %q … %q not found", begin, end)
	}
	return b, e, nil
}
