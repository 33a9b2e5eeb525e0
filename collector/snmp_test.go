package collector

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSNMPFixture(t *testing.T) {
	sections := map[string]map[string]float64{}
	for _, file := range []string{"testdata/snmp/snmp", "testdata/snmp/netstat"} {
		s, err := parseProcNetSNMP(openFixture(t, file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for k, v := range s {
			sections[k] = v
		}
	}
	s6, err := parseSNMP6(openFixture(t, "testdata/snmp/snmp6"))
	if err != nil {
		t.Fatal(err)
	}
	got := gatherValues(t, func(ch chan<- prometheus.Metric) {
		emitSNMP("fixture", sections, ch)
		emitSNMP6("fixture", s6, ch)
	})

	// The fixtures were copied from a live kernel and these fields were set
	// to distinct values, so a field read from the wrong column or file
	// shows up here.
	for key, want := range map[string]float64{
		`netcause_tcp_retransmitted_segments_total{netns="fixture"}`:                 4242,
		`netcause_tcp_connections_established{netns="fixture"}`:                      7,
		`netcause_tcp_syn_retransmits_total{netns="fixture"}`:                        77,
		`netcause_tcp_listen_overflows_total{netns="fixture"}`:                       3,
		`netcause_tcp_aborts_total{netns="fixture",reason="timeout"}`:                9,
		`netcause_ip_out_no_routes_total{family="ipv4",netns="fixture"}`:             13,
		`netcause_ip_out_no_routes_total{family="ipv6",netns="fixture"}`:             31,
		`netcause_ip_in_no_routes_total{family="ipv4",netns="fixture"}`:              2,
		`netcause_icmp_packet_too_big_received_total{family="ipv6",netns="fixture"}`: 11,
		`netcause_udp_receive_buffer_errors_total{family="ipv4",netns="fixture"}`:    5,
	} {
		v, ok := got[key]
		if !ok {
			t.Errorf("%s missing", key)
			continue
		}
		if v != want {
			t.Errorf("%s = %v, want %v", key, v, want)
		}
	}
	// Every mapped field exists in this kernel's files, so every mapping
	// produced a series: a typo in a kernel field name would drop one.
	if want := len(snmpFields) + len(snmp6Fields); len(got) != want {
		t.Errorf("got %d series, want one per mapped field (%d)", len(got), want)
	}
}

func TestParseProcNetSNMPErrors(t *testing.T) {
	for name, in := range map[string]string{
		"value line missing":  "Tcp: A B\n",
		"sections differ":     "Tcp: A B\nUdp: 1 2\n",
		"count mismatch":      "Tcp: A B\nTcp: 1\n",
		"not a number":        "Tcp: A\nTcp: x\n",
		"no colon":            "Tcp A\nTcp 1\n",
		"overflowing integer": "Tcp: A\nTcp: 99999999999999999999999\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseProcNetSNMP(strings.NewReader(in)); err == nil {
				t.Errorf("no error for %q", in)
			}
		})
	}
}

func TestParseProcNetSNMPSigned(t *testing.T) {
	// Tcp MaxConn is -1 on every Linux: it must parse, not fail the file.
	s, err := parseProcNetSNMP(strings.NewReader("Tcp: MaxConn RetransSegs\nTcp: -1 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s["Tcp"]["MaxConn"] != -1 || s["Tcp"]["RetransSegs"] != 5 {
		t.Errorf("got %v", s)
	}
}

func TestParseSNMP6Errors(t *testing.T) {
	for _, in := range []string{"Ip6InReceives\n", "Ip6InReceives 1 2\n", "Ip6InReceives x\n"} {
		if _, err := parseSNMP6(strings.NewReader(in)); err == nil {
			t.Errorf("no error for %q", in)
		}
	}
}

func FuzzParseProcNetSNMP(f *testing.F) {
	f.Add("Tcp: A B\nTcp: 1 2\n")
	f.Add("Ip: Forwarding\nIp: 1\nTcpExt: X\nTcpExt: -3\n")
	f.Add("\n\nTcp:\nTcp:\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := parseProcNetSNMP(strings.NewReader(in))
		if err == nil && s == nil {
			t.Error("nil result without error")
		}
	})
}

func FuzzParseSNMP6(f *testing.F) {
	f.Add("Ip6InReceives 1\nUdp6NoPorts 2\n")
	f.Fuzz(func(t *testing.T, in string) {
		_, _ = parseSNMP6(strings.NewReader(in))
	})
}
