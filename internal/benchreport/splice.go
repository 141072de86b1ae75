package benchreport

import (
	"bytes"
	"errors"
)

// The markers around the generated part of BENCHMARKS.md.
var (
	BeginMarker = []byte("<!-- benchreport: begin -->\n")
	EndMarker   = []byte("<!-- benchreport: end -->\n")
)

// ErrNoMarkers means the document lacks the begin and end markers, in
// that order.
var ErrNoMarkers = errors.New("benchreport: no begin/end markers")

// Splice returns doc with what lies between the markers replaced by
// report; the rest of the document is kept as it is.
func Splice(doc, report []byte) ([]byte, error) {
	begin := bytes.Index(doc, BeginMarker)
	if begin < 0 {
		return nil, ErrNoMarkers
	}
	head := begin + len(BeginMarker)
	end := bytes.Index(doc[head:], EndMarker)
	if end < 0 {
		return nil, ErrNoMarkers
	}
	out := append([]byte{}, doc[:head]...)
	out = append(out, report...)
	if len(report) > 0 && report[len(report)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, doc[head+end:]...), nil
}
