package main

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"

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

func (c *analyzeCmd) run() error {
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
	in, size, closeIn, err := openCapture(*c.file)
	if err != nil {
		return err
	}
	defer closeIn()
	bar := newProgress(os.Stderr, size)
	opts.Progress = bar.update
	rep, err := sampler.Analyze(in, opts)
	bar.done()
	if rep == nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	var werr error
	switch *c.format {
	case "json":
		werr = rep.WriteJSON(out)
	case "csv":
		werr = rep.WriteCSV(out)
	default:
		werr = rep.WriteText(out, *c.maxRows)
	}
	if ferr := out.Flush(); werr == nil {
		werr = ferr
	}
	if werr != nil {
		return fmt.Errorf("write report: %w", werr)
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

// openCapture opens a file, or standard input for "-"; size is 0 when
// unknown.
func openCapture(path string) (io.Reader, int64, func(), error) {
	if path == "-" {
		return os.Stdin, 0, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return f, size, func() { f.Close() }, nil
}
