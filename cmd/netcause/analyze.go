package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime/debug"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/sys/unix"

	"github.com/netcause/netcause/sampler"
)

type analyzeCmd struct {
	cmd      *kingpin.CmdClause
	file     *string
	format   *string
	local    *[]string
	peerMap  *string
	respTO   *time.Duration
	maxConns *int
	maxRows  *int
}

func newAnalyzeCmd(app *kingpin.Application) *analyzeCmd {
	c := &analyzeCmd{cmd: app.Command("analyze", "Report per peer and per connection: unanswered and refused SYNs, resets, retransmissions, handshake and response latency, and the causes they point to.")}
	c.file = c.cmd.Arg("file", "pcap or pcapng capture (gzip allowed for pcap); - reads standard input.").Required().String()
	c.format = c.cmd.Flag("format", "Output: text, json or csv (one row per connection).").Default("text").Enum("text", "json", "csv")
	c.local = c.cmd.Flag("local", "This host's address or CIDR (repeatable); peers and roles are relative to it. Default: the address in most connections.").Strings()
	c.peerMap = c.cmd.Flag("peer-map", "File of \"CIDR [NAME]\" lines naming peers.").String()
	c.respTO = c.cmd.Flag("response-timeout", "A request with no reply this long before the capture ends counts as unanswered.").Default(sampler.DefaultResponseTimeout.String()).Duration()
	c.maxConns = c.cmd.Flag("max-connections", "Most connections tracked at once; the least recently seen is ended early beyond it.").Default("1048576").Int()
	c.maxRows = c.cmd.Flag("max-rows", "Connections listed in text output (problems first); 0 lists all.").Default("50").Int()
	return c
}

func (c *analyzeCmd) run(stdout io.Writer) error {
	// A one-shot run over a big file: collecting garbage less often buys
	// time with memory the process gives back when it exits.
	debug.SetGCPercent(400)
	opts := sampler.AnalyzeOptions{ResponseTimeout: *c.respTO, MaxConnections: *c.maxConns}
	for _, l := range *c.local {
		p, err := parseLocal(l)
		if err != nil {
			return fmt.Errorf("--local %s: %w", l, err)
		}
		opts.Local = append(opts.Local, p)
	}
	if *c.peerMap != "" {
		pm, err := loadPeerMap(*c.peerMap)
		if err != nil {
			return err
		}
		opts.PeerMap = pm
	}
	src, size, closeIn, err := openCapture(*c.file)
	if err != nil {
		return err
	}
	defer closeIn()
	bar := newProgress(os.Stderr, size)
	opts.Progress = bar.update
	rep, err := sampler.AnalyzeSource(src, opts)
	bar.done()
	if rep == nil {
		return err
	}
	werr := writeReport(stdout, func(out io.Writer) error {
		switch *c.format {
		case "json":
			return rep.WriteJSON(out)
		case "csv":
			return rep.WriteCSV(out)
		}
		return rep.WriteText(out, *c.maxRows)
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("%w: %v (the report covers everything before it)", errCorrupt, err)
	}
	return nil
}

func parseLocal(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func loadPeerMap(path string) (*sampler.PeerMap, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return sampler.ParsePeerMap(f)
}

// openCapture opens a capture: standard input for "-", a regular file
// mapped into memory so its records are read in place, anything else
// (a pipe, a FIFO) as a stream. size is 0 when unknown.
func openCapture(path string) (*sampler.Source, int64, func(), error) {
	// kingpin hands a lone "-" argument over as "".
	if path == "-" || path == "" {
		src, err := sampler.NewSource(os.Stdin)
		return src, 0, func() {}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 || fi.Size() != int64(int(fi.Size())) {
		src, err := sampler.NewSource(f)
		if err != nil {
			f.Close()
			return nil, 0, nil, err
		}
		return src, 0, func() { f.Close() }, nil
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	f.Close()
	if err != nil {
		return nil, 0, nil, fmt.Errorf("map %s: %w", path, err)
	}
	_ = unix.Madvise(mem, unix.MADV_SEQUENTIAL)
	src, err := sampler.NewSourceBytes(mem)
	if err != nil {
		_ = unix.Munmap(mem)
		return nil, 0, nil, err
	}
	return src, fi.Size(), func() { _ = unix.Munmap(mem) }, nil
}
