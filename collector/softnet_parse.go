package collector

import (
	"bytes"
	"errors"
	"fmt"
)

// softnetCPU is one row of /proc/net/softnet_stat.
type softnetCPU struct {
	cpu   uint32
	width int // columns the kernel printed; later columns are zero
	processed, dropped, squeezed,
	rps, flowLimit, backlog uint32
}

// The kernel's layouts by column count (net/core/net-procfs.c):
//
//	 9  2.6.23: processed dropped time_squeeze 0 0 0 0 0 cpu_collision
//	10  2.6.39: + received_rps
//	11  4.18:   + flow_limit_count
//	13  5.14:   + backlog length, CPU index
//	15  6.x:    + input and process queue lengths
//
// Every column is a 32-bit counter printed as %08x.
const (
	softnetMinColumns = 9
	softnetColumns    = 13 // the last column this parser reads
)

// parseSoftnet parses softnet_stat content into rows, reusing rows' backing
// array so a scrape allocates nothing once it has seen the machine's CPU
// count. It follows prometheus/procfs's parser (which node_exporter uses)
// column for column: the CPU number comes from the index column where the
// kernel prints it and from the row number before that, and a row with
// fewer than 9 columns or a column that is not a 32-bit hex number is an
// error. Columns after the 13th are neither read nor checked.
func parseSoftnet(b []byte, rows []softnetCPU) ([]softnetCPU, error) {
	rows = rows[:0]
	for row := 0; len(b) > 0; row++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		var cols [softnetColumns]uint32
		var col12Err error // the backlog column counts only beside the index column
		width := 0
		for {
			for len(line) > 0 && isSpace(line[0]) {
				line = line[1:]
			}
			if len(line) == 0 {
				break
			}
			n := 0
			for n < len(line) && !isSpace(line[n]) {
				n++
			}
			if width < softnetColumns {
				v, err := parseHex32(line[:n])
				if err != nil {
					err = fmt.Errorf("softnet_stat row %d column %d: %w", row+1, width+1, err)
					if width != 11 {
						return nil, err
					}
					col12Err = err
				}
				cols[width] = v
			}
			width++
			line = line[n:]
		}
		if width < softnetMinColumns {
			return nil, fmt.Errorf("softnet_stat row %d: %d columns, every kernel prints at least %d", row+1, width, softnetMinColumns)
		}
		r := softnetCPU{
			cpu: uint32(row), width: width,
			processed: cols[0], dropped: cols[1], squeezed: cols[2],
			rps: cols[9], flowLimit: cols[10],
		}
		if width >= 13 {
			if col12Err != nil {
				return nil, col12Err
			}
			r.backlog, r.cpu = cols[11], cols[12]
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

var errNotHex32 = errors.New("not a 32-bit hexadecimal number")

func parseHex32(s []byte) (uint32, error) {
	if len(s) == 0 {
		return 0, errNotHex32
	}
	var v uint64
	for _, c := range s {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, fmt.Errorf("%q: %w", s, errNotHex32)
		}
		v = v<<4 | uint64(d)
		if v > 1<<32-1 {
			return 0, fmt.Errorf("%q: %w", s, errNotHex32)
		}
	}
	return uint32(v), nil
}
