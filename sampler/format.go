package sampler

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the whole report as one JSON object.
func (rep *Report) WriteJSON(w io.Writer) error {
	rep.connections()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// CSVHeader is the first line of WriteCSV: one row per connection.
var CSVHeader = []string{"client", "server", "start", "duration_seconds", "state", "completeness", "syns",
	"syn_to_synack_seconds", "synack_to_ack_seconds", "mss_client", "mss_server",
	"packets_c2s", "packets_s2c", "retransmissions_c2s", "retransmissions_s2c",
	"resets_c2s", "resets_s2c", "zero_windows_c2s", "zero_windows_s2c",
	"responses", "response_avg_seconds", "response_max_seconds", "unanswered_requests", "icmp_errors", "causes"}

// WriteCSV writes one row per connection.
func (rep *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	opt := func(v *float64) string {
		if v == nil {
			return ""
		}
		return f(*v)
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	for _, c := range rep.connections() {
		avg, max := "", ""
		var n uint64
		if c.Response != nil {
			avg, max, n = f(c.Response.Avg), f(c.Response.Max), uint64(c.Response.Count)
		}
		row := []string{c.Client, c.Server, c.Start, f(c.DurationSeconds), c.State, u(uint64(c.Completeness)),
			strconv.Itoa(c.SYNs), opt(c.SynToSynAck), opt(c.SynAckToAck),
			strconv.Itoa(c.MSSClient), strconv.Itoa(c.MSSServer),
			u(uint64(c.Packets[0])), u(uint64(c.Packets[1])),
			u(uint64(c.Retransmissions[0])), u(uint64(c.Retransmissions[1])),
			u(uint64(c.Resets[0])), u(uint64(c.Resets[1])),
			u(uint64(c.ZeroWindows[0])), u(uint64(c.ZeroWindows[1])),
			u(n), avg, max, u(uint64(c.Unanswered)), u(uint64(c.ICMPErrors)), strings.Join(c.Causes, " ")}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteText writes the report as tables for a terminal; at most maxConns
// connections are listed (0: all), problem connections first.
func (rep *Report) WriteText(w io.Writer, maxConns int) error {
	t := rep.Totals
	ew := &errWriter{w: w}
	ew.printf("%d packets, %d TCP connections over %.3fs", t.Packets, t.Connections, t.DurationSeconds)
	if t.First != "" {
		ew.printf(" (%s .. %s)", t.First, t.Last)
	}
	ew.printf("\n")
	how := "given"
	if rep.LocalInferred {
		how = "inferred: the address in most connections; set it with --local"
	}
	ew.printf("this host: %s (%s)\n\n", strings.Join(rep.Local, ", "), how)
	ew.printf("handshakes %d, unanswered SYNs %d, refused %d, RST segments %d, retransmissions %d (data %d, SYN %d),\n",
		t.Handshakes, t.UnansweredSYNs, t.Refused, t.Resets, t.Retransmissions, t.DataRetransmits, t.SYNRetransmits)
	ew.printf("responses %d, unanswered requests %d, zero windows %d, small-MSS handshakes %d, ICMP errors %d, undecodable packets %d\n",
		t.Responses, t.Unanswered, t.ZeroWindows, t.SmallMSS, t.ICMPErrors, t.Undecodable)

	if len(rep.Findings) > 0 {
		ew.printf("\nFindings\n")
		for _, f := range rep.Findings {
			causes := ""
			if len(f.Causes) > 0 {
				causes = " [" + strings.Join(f.Causes, ", ") + "]"
			}
			ew.printf("  %s (this host %s): %s%s\n", f.Peer, f.Role, f.Evidence, causes)
		}
	}

	ew.printf("\nPeers\n")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  PEER\tROLE\tCONNS\tHANDSHAKE avg (min..max)\tUNANSW SYN\tSYN RETX\tREFUSED\tRST out/in\tRETX out/in\tZERO WIN out/in\tRESPONSE avg (min..max)\tNO REPLY\tMIN MSS")
	for _, p := range rep.Peers {
		mss := "-"
		if p.MinMSS > 0 {
			mss = strconv.Itoa(p.MinMSS)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%d\t%d\t%d\t%d/%d\t%d/%d\t%d/%d\t%s\t%d\t%s\n", p.Peer, p.Role, p.Connections,
			p.Handshake.String(), p.UnansweredSYNs, p.SYNRetransmits, p.Refused, p.ResetsSent, p.ResetsReceived,
			p.RetransSent, p.RetransReceived, p.ZeroWinSent, p.ZeroWinReceived, p.Response.String(), p.Unanswered, mss)
	}
	tw.Flush()

	recs := rep.records
	order := make([]int, 0, len(recs))
	for i := range recs {
		if len(connCauses(&recs[i])) > 0 {
			order = append(order, i)
		}
	}
	for i := range recs {
		if len(connCauses(&recs[i])) == 0 {
			order = append(order, i)
		}
	}
	if maxConns > 0 && len(order) > maxConns {
		ew.printf("\nConnections (%d of %d, problems first; --format json lists all)\n", maxConns, len(order))
		order = order[:maxConns]
	} else {
		ew.printf("\nConnections\n")
	}
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CLIENT\tSERVER\tSTATE\tSYNS\tSYN->SYN-ACK\tSYN-ACK->ACK\tRETX c/s\tRST c/s\tRESPONSES\tNO REPLY\tMSS c/s\tCAUSES")
	for _, i := range order {
		c := connReport(&recs[i])
		n := 0
		if c.Response != nil {
			n = c.Response.Count
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%d/%d\t%d/%d\t%d %s\t%d\t%d/%d\t%s\n", c.Client, c.Server, c.State, c.SYNs,
			optMS(c.SynToSynAck), optMS(c.SynAckToAck), c.Retransmissions[0], c.Retransmissions[1],
			c.Resets[0], c.Resets[1], n, c.Response.String(), c.Unanswered, c.MSSClient, c.MSSServer, strings.Join(c.Causes, ","))
	}
	tw.Flush()
	if len(rep.ICMPErrors) > 0 {
		ew.printf("\nICMP errors\n")
		for _, e := range rep.ICMPErrors {
			ew.printf("  %s %s from %s about %s", e.Time, e.Kind, e.From, e.About)
			if e.MTU > 0 {
				ew.printf(" (MTU %d)", e.MTU)
			}
			ew.printf("\n")
		}
	}
	if rep.Error != "" {
		ew.printf("\nThe capture ends early: %s; the figures above cover everything before it.\n", rep.Error)
	}
	return ew.err
}

func optMS(v *float64) string {
	if v == nil {
		return "-"
	}
	return ms(*v)
}

// errWriter keeps the first write error so the formatting code stays flat.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
