// Command netcause does an on-call engineer's packet reading offline:
// `netcause analyze FILE` reports per peer and per connection where
// packets went missing or came late, and `netcause diff A B` compares the
// captures of both ends of a path to tell which direction lost what.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1 // bad arguments, unreadable file
	exitCorrupt = 2 // the capture breaks part way; the report covers what came before
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command without the process around it, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("netcause", "Why packets between two services go missing or arrive late: offline capture analysis.")
	app.Version(version.Print("netcause"))
	app.HelpFlag.Short('h')
	app.UsageWriter(stderr)
	app.ErrorWriter(stderr)
	app.Terminate(nil)
	analyze := newAnalyzeCmd(app)
	diff := newDiffCmd(app)

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintln(stderr, "netcause:", err)
		return exitError
	}
	switch cmd {
	case analyze.cmd.FullCommand():
		err = analyze.run(stdout)
	case diff.cmd.FullCommand():
		err = diff.run(stdout)
	default:
		return exitOK // --help, --version
	}
	return exitCode(err, stderr)
}

// errCorrupt marks a capture that broke part way after its report was
// written.
var errCorrupt = errors.New("corrupt capture")

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errCorrupt):
		fmt.Fprintln(stderr, "netcause:", err)
		return exitCorrupt
	default:
		fmt.Fprintln(stderr, "netcause:", err)
		return exitError
	}
}

// writeReport renders a report to stdout through a buffer.
func writeReport(stdout io.Writer, render func(io.Writer) error) error {
	out := bufio.NewWriter(stdout)
	err := render(out)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
