package loadgen

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Verdict says whether a measured value meets its target.
type Verdict int

// Verdicts. The zero value is Missed, so a row nobody judged never passes
// for met.
const (
	Missed  Verdict = iota // measured, and outside the target
	Met                    // measured, and within the target
	Skipped                // not measured (a tool is missing, or the row was not selected)
)

func (v Verdict) String() string {
	switch v {
	case Met:
		return "met"
	case Skipped:
		return "skipped"
	}
	return "MISSED"
}

// Judge returns Met when ok, else Missed.
func Judge(ok bool) Verdict {
	if ok {
		return Met
	}
	return Missed
}

// Row is one line of the results table.
type Row struct {
	What     string  // what is measured, e.g. "throughput, 64 clients"
	Measured string  // the figure, with the detail needed to read it
	Target   string  // the target, e.g. "≥ 0.90"
	Verdict  Verdict //
}

// SkipRow is a row that was not measured; why says what is missing.
func SkipRow(what, target, why string) Row {
	return Row{What: what, Measured: "skipped: " + why, Target: target, Verdict: Skipped}
}

// WriteTable writes rows as one Markdown table with padded columns, so it
// reads the same in a terminal and in BENCHMARKS.md. A "|" inside a cell
// is escaped.
func WriteTable(w io.Writer, rows []Row) error {
	head := []string{"what", "measured", "target", "met"}
	cells := make([][]string, 0, len(rows)+1)
	cells = append(cells, head)
	for _, r := range rows {
		cells = append(cells, []string{r.What, r.Measured, r.Target, r.Verdict.String()})
	}
	width := make([]int, len(head))
	for _, row := range cells {
		for i, c := range row {
			row[i] = strings.ReplaceAll(c, "|", `\|`)
			width[i] = max(width[i], utf8.RuneCountInString(row[i]))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i, c := range row {
			b.WriteString(" ")
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)))
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	line(cells[0])
	b.WriteString("|")
	for _, n := range width {
		b.WriteString(strings.Repeat("-", n+2))
		b.WriteString("|")
	}
	b.WriteString("\n")
	for _, row := range cells[1:] {
		line(row)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write results table: %w", err)
	}
	return nil
}
