// Command synthpcap writes a synthetic TCP capture (see package synth) for
// benchmarks: `go run ./sampler/synth/synthpcap -n 1000000 -o 1m.pcap`.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/netcause/netcause/sampler/synth"
)

func main() {
	n := flag.Int("n", 1000000, "packets")
	out := flag.String("o", "", "output pcap file")
	seed := flag.Uint64("seed", 1, "traffic seed")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: synthpcap -n PACKETS -o FILE")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	st, err := synth.Write(w, synth.Options{Packets: *n, Seed: *seed})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d packets, %d connections\n", *out, st.Packets, st.Connections)
}
