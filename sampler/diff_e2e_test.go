package sampler_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netcause/netcause/internal/nstest"
	"github.com/netcause/netcause/sampler"
)

// A router between client and server drops 10% of forwarded packets each
// way, with one iptables rule per direction. netcause diff of a capture at
// the client and one at the server must find exactly the packets each
// rule dropped, in the right direction. Client 10.213.7.1, router
// 10.213.7.254 / 10.213.17.254, server 10.213.17.2.
func TestDiffPathLoss(t *testing.T) {
	client, router, server := nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Veth(t, client, "nc7c", "10.213.7.1/24", router, "nc7rc", "10.213.7.254/24")
	nstest.Veth(t, router, "nc7rs", "10.213.17.254/24", server, "nc7s", "10.213.17.2/24")
	for _, e := range []struct {
		ns  *nstest.NS
		dev string
	}{{client, "nc7c"}, {router, "nc7rc"}, {router, "nc7rs"}, {server, "nc7s"}} {
		offloadsOff(t, e.ns, e.dev)
	}
	client.Run("ip", "route", "add", "default", "via", "10.213.7.254")
	server.Run("ip", "route", "add", "default", "via", "10.213.17.254")
	router.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	router.Run("iptables", "-A", "FORWARD", "-i", "nc7rc", "-o", "nc7rs", "-m", "statistic", "--mode", "random", "--probability", "0.1", "-j", "DROP")
	router.Run("iptables", "-A", "FORWARD", "-i", "nc7rs", "-o", "nc7rc", "-m", "statistic", "--mode", "random", "--probability", "0.1", "-j", "DROP")
	server.EchoServer("10.213.17.2:8080")

	fileA, stopA := tcpdump(t, client, "nc7c")
	fileB, stopB := tcpdump(t, server, "nc7s")
	done := client.EchoTraffic(t, "10.213.17.2:8080", 10, 20000, 10*time.Second)
	t.Logf("%d of 10 connections completed through 10%% loss each way", done)
	// Let retransmissions and closes finish before the captures stop.
	drops := func() [2]int { return forwardDrops(t, router) }
	deadline := time.Now().Add(30 * time.Second)
	prev := drops()
	for {
		time.Sleep(2 * time.Second)
		cur := drops()
		if cur == prev {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("drop counters still moving after 30s")
		}
		prev = cur
	}
	stopA()
	stopB()
	got := drops()
	if got[0] == 0 || got[1] == 0 {
		t.Fatalf("router dropped %v packets: the test did not exercise loss both ways", got)
	}

	fa, err := os.Open(fileA)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(fileB)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	rep, err := sampler.Diff(fa, fb, sampler.DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("capture errors: %v", rep.Errors)
	}
	tot := rep.Totals
	t.Logf("router dropped %d client->server, %d server->client; diff: %+v", got[0], got[1], tot)
	if tot.LostAToB != got[0] || tot.LostBToA != got[1] {
		t.Errorf("diff: lost A->B %d, B->A %d; the router's rules dropped %d client->server and %d server->client",
			tot.LostAToB, tot.LostBToA, got[0], got[1])
	}
	if tot.UnexpectedAtA != 0 || tot.UnexpectedAtB != 0 {
		t.Errorf("segments seen only by their receiver: %d at A, %d at B", tot.UnexpectedAtA, tot.UnexpectedAtB)
	}
	// Lossy kernel traffic: the retransmission analysis of each capture
	// must agree with tshark's.
	compareWithTshark(t, fileA)
	compareWithTshark(t, fileB)
	// Same host, same clock: the estimated offset is within a millisecond.
	if rep.ClockOffsetSeconds < -0.001 || rep.ClockOffsetSeconds > 0.001 {
		t.Errorf("clock offset %vs between two namespaces of one host", rep.ClockOffsetSeconds)
	}
}

// forwardDrops returns the packet counters of the router's two FORWARD
// rules: client to server, server to client.
func forwardDrops(t *testing.T, router *nstest.NS) [2]int {
	t.Helper()
	out := router.Run("iptables", "-nvxL", "FORWARD")
	var got []int
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "DROP" {
			n, err := strconv.Atoi(f[0])
			if err != nil {
				t.Fatalf("iptables line %q", line)
			}
			got = append(got, n)
		}
	}
	if len(got) != 2 {
		t.Fatalf("want 2 DROP rules in FORWARD, found %d:\n%s", len(got), out)
	}
	return [2]int{got[0], got[1]}
}
