package collector

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// parseProcNetSNMP parses /proc/net/snmp and /proc/net/netstat, which share
// one layout: pairs of lines, a header "Section: Name1 Name2 ..." followed by
// "Section: value1 value2 ...". It returns section -> name -> value.
//
// prometheus/procfs parses these files too, but only into fixed structs and
// only through /proc/PID paths; netcause reads /proc/thread-self after
// entering a namespace and needs IcmpMsg and a few TcpExt fields procfs does
// not carry, so it keeps this small parser.
func parseProcNetSNMP(r io.Reader) (map[string]map[string]float64, error) {
	out := map[string]map[string]float64{}
	s := bufio.NewScanner(r)
	line := 0
	for s.Scan() {
		line++
		header := s.Text()
		if strings.TrimSpace(header) == "" {
			continue
		}
		if !s.Scan() {
			return nil, fmt.Errorf("line %d: header %.20q has no value line", line, header)
		}
		line++
		values := s.Text()
		hSec, hNames, ok1 := strings.Cut(header, ":")
		vSec, vVals, ok2 := strings.Cut(values, ":")
		if !ok1 || !ok2 || hSec != vSec || hSec == "" {
			return nil, fmt.Errorf("line %d: header and value lines do not pair (%.20q, %.20q)", line, header, values)
		}
		names, vals := strings.Fields(hNames), strings.Fields(vVals)
		if len(names) != len(vals) {
			return nil, fmt.Errorf("line %d: section %s has %d names but %d values", line, hSec, len(names), len(vals))
		}
		sec := out[hSec]
		if sec == nil {
			sec = make(map[string]float64, len(names))
			out[hSec] = sec
		}
		for i, n := range names {
			v, err := parseCounterValue(vals[i])
			if err != nil {
				return nil, fmt.Errorf("line %d: %s %s: %w", line, hSec, n, err)
			}
			sec[n] = v
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseSNMP6 parses /proc/net/snmp6: one "Name value" pair per line.
func parseSNMP6(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	s := bufio.NewScanner(r)
	line := 0
	for s.Scan() {
		line++
		f := strings.Fields(s.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"name value\", got %d fields", line, len(f))
		}
		v, err := parseCounterValue(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", line, f[0], err)
		}
		out[f[0]] = v
	}
	return out, s.Err()
}

// parseCounterValue accepts the unsigned counters and the few signed values
// (Tcp MaxConn is -1) these files hold.
func parseCounterValue(s string) (float64, error) {
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return float64(u), nil
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not an integer: %.20q", s)
	}
	return float64(i), nil
}
