package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/netcause/netcause/dashboards/boards"
)

// File is one generated dashboard file.
type File struct {
	Name string // e.g. overview.json, relative to dashboards/
	Data []byte
}

// Render returns every dashboard as the JSON file users import: two-space
// indentation, PromQL's < > & left unescaped, a final newline.
func Render() ([]File, error) {
	bs, err := boards.All()
	if err != nil {
		return nil, err
	}
	var out []File
	for _, b := range bs {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(b.Dashboard); err != nil {
			return nil, fmt.Errorf("%s: %w", b.File, err)
		}
		out = append(out, File{Name: b.File, Data: buf.Bytes()})
	}
	return out, nil
}
