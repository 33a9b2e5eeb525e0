package sampler

import (
	"bytes"
	"testing"
	"time"
)

// Two captures of one connection through a NAT (the server sees the client
// as 192.168.9.9:6000) with B's clock 5 s ahead: one request segment lost
// on the way to B, one reply segment lost on the way back.
func TestDiffFixture(t *testing.T) {
	const (
		aCli, aSrv = "10.7.0.1:40000", "10.7.0.2:80"
		bCli, bSrv = "192.168.9.9:6000", "10.7.0.2:80"
	)
	ms := time.Millisecond
	skew := 5 * time.Second
	// at A: what the client sent and received; owd 10 ms each way.
	a := []pkt{
		{src: aCli, dst: aSrv, flags: FlagSYN, seq: 100},
		{src: aSrv, dst: aCli, flags: FlagSYN | FlagACK, seq: 900, ack: 101, at: 20 * ms},
		{src: aCli, dst: aSrv, flags: FlagACK, seq: 101, ack: 901, at: 21 * ms},
		{src: aCli, dst: aSrv, flags: FlagACK | FlagPSH, seq: 101, ack: 901, payload: 100, at: 30 * ms},  // lost
		{src: aCli, dst: aSrv, flags: FlagACK | FlagPSH, seq: 101, ack: 901, payload: 100, at: 300 * ms}, // retransmitted
		{src: aSrv, dst: aCli, flags: FlagACK | FlagPSH, seq: 901, ack: 201, payload: 50, at: 320 * ms},
	}
	b := []pkt{
		{src: bCli, dst: bSrv, flags: FlagSYN, seq: 100, at: skew + 10*ms},
		{src: bSrv, dst: bCli, flags: FlagSYN | FlagACK, seq: 900, ack: 101, at: skew + 10*ms},
		{src: bCli, dst: bSrv, flags: FlagACK, seq: 101, ack: 901, at: skew + 31*ms},
		{src: bCli, dst: bSrv, flags: FlagACK | FlagPSH, seq: 101, ack: 901, payload: 100, at: skew + 310*ms},
		{src: bSrv, dst: bCli, flags: FlagACK | FlagPSH, seq: 901, ack: 201, payload: 50, at: skew + 310*ms},
		{src: bSrv, dst: bCli, flags: FlagACK | FlagPSH, seq: 951, ack: 201, payload: 50, at: skew + 311*ms}, // lost on the way back
	}
	rep, err := Diff(bytes.NewReader(capture(t, 0, a...)), bytes.NewReader(capture(t, 0, b...)), DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Matched != 1 || len(rep.Connections) != 1 {
		t.Fatalf("matched %d of %d connections", rep.Totals.Matched, len(rep.Connections))
	}
	c := rep.Connections[0]
	if c.MatchedBy != "isn" || c.ClientAtB != bCli {
		t.Errorf("matched by %q, client at B %q", c.MatchedBy, c.ClientAtB)
	}
	if len(c.LostAToB) != 1 || c.LostAToB[0].Seq != 1 || c.LostAToB[0].Len != 100 {
		t.Errorf("lost A->B %+v, want the first copy of the request (relative seq 1, 100 bytes)", c.LostAToB)
	}
	if len(c.LostBToA) != 1 || c.LostBToA[0].Seq != 51 {
		t.Errorf("lost B->A %+v, want the second reply segment (relative seq 51)", c.LostBToA)
	}
	if len(c.UnexpectedAtA)+len(c.UnexpectedAtB) != 0 || c.UnansweredAtB != 0 {
		t.Errorf("unexpected %+v %+v, unanswered %d", c.UnexpectedAtA, c.UnexpectedAtB, c.UnansweredAtB)
	}
	if d := time.Duration(rep.ClockOffsetSeconds * 1e9); d < skew-ms || d > skew+ms {
		t.Errorf("clock offset %v, want %v", d, skew)
	}
	if c.DelayAToB == nil || c.DelayAToB.Min < 0.009 || c.DelayAToB.Max > 0.011 {
		t.Errorf("delay A->B %+v, want 10ms", c.DelayAToB)
	}
}

// A connection whose SYNs never reached B is reported as such.
func TestDiffNeverArrived(t *testing.T) {
	a := capture(t, 0, pkt{src: cli, dst: srv, flags: FlagSYN, seq: 5}, pkt{src: cli, dst: srv, flags: FlagSYN, seq: 5, at: time.Second},
		pkt{src: "10.7.0.1:40001", dst: srv, flags: FlagSYN, seq: 77})
	b := capture(t, 0, pkt{src: "10.7.0.1:40001", dst: srv, flags: FlagSYN, seq: 77, at: time.Millisecond})
	rep, err := Diff(bytes.NewReader(a), bytes.NewReader(b), DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.LostAToB != 2 || rep.Totals.Matched != 1 {
		t.Errorf("totals %+v: want both SYNs of the first connection lost A->B", rep.Totals)
	}
}
