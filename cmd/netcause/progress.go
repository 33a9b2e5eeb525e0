package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// progress draws a bar on a terminal while a large file is read; on
// anything else (a pipe, a log file) it stays silent.
type progress struct {
	w     io.Writer
	size  int64
	on    bool
	last  time.Time
	shown bool
}

// progressMin is the smallest file worth a progress bar.
const progressMin = 32 << 20

func newProgress(f *os.File, size int64) *progress {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return &progress{w: f, size: size, on: err == nil && size >= progressMin}
}

func (p *progress) update(offset int64) {
	if !p.on || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	frac := float64(offset) / float64(p.size)
	frac = min(max(frac, 0), 1)
	const width = 40
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% of %d MB", strings.Repeat("#", n), strings.Repeat(" ", width-n), frac*100, p.size>>20)
	p.shown = true
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 70))
	}
}
