package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kingpin/v2"

	"github.com/netcause/netcause/sampler"
)

type diffCmd struct {
	cmd     *kingpin.CmdClause
	a, b    *string
	format  *string
	addrMap *[]string
	maxSegs *int
}

func newDiffCmd(app *kingpin.Application) *diffCmd {
	c := &diffCmd{cmd: app.Command("diff", "Compare a capture from each end of a path: which segments were lost on the way there, which on the way back, which requests the server never answered, and the one-way delays.")}
	c.a = c.cmd.Arg("a", "Capture taken at the client (the side that opens the connections).").Required().String()
	c.b = c.cmd.Arg("b", "Capture taken at the server.").Required().String()
	c.format = c.cmd.Flag("format", "Output: text or json.").Default("text").Enum("text", "json")
	c.addrMap = c.cmd.Flag("map", "A_ADDR=B_ADDR: how B sees an address of A behind a NAT (repeatable); only needed for connections whose SYN is missing from a capture.").Strings()
	c.maxSegs = c.cmd.Flag("max-segments", "Segments listed per connection and kind in text output; 0 lists all.").Default("20").Int()
	return c
}

func (c *diffCmd) run(stdout io.Writer) error {
	m, err := sampler.ParseAddrMap(*c.addrMap)
	if err != nil {
		return err
	}
	fa, err := os.Open(*c.a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(*c.b)
	if err != nil {
		return err
	}
	defer fb.Close()
	rep, err := sampler.Diff(bufio.NewReader(fa), bufio.NewReader(fb), sampler.DiffOptions{Map: m})
	if rep == nil {
		return err
	}
	werr := writeReport(stdout, func(out io.Writer) error {
		if *c.format == "json" {
			return rep.WriteJSON(out)
		}
		return rep.WriteText(out, *c.maxSegs)
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("%w: %s", errCorrupt, rep.Errors[0])
	}
	return nil
}
