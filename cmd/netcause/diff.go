package main

import (
	"errors"

	"github.com/alecthomas/kingpin/v2"
)

type diffCmd struct {
	cmd *kingpin.CmdClause
}

func newDiffCmd(app *kingpin.Application) *diffCmd {
	c := &diffCmd{cmd: app.Command("diff", "Compare captures of both ends of a path.")}
	return c
}

func (c *diffCmd) run() error { return errors.New("diff: not implemented yet") }
