package ui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ui/numfmt"
)

// env is what drawing needs besides the data and the view.
type env struct {
	th   *Theme
	now  time.Time
	loc  *time.Location
	logs []string // the log pane's lines, oldest first
}

// canvas writes clipped text onto a screen.
type canvas struct {
	scr  tcell.Screen
	w, h int
}

// text writes s at (x, y), clipped before maxX, and returns the x after
// it. Control characters are shown, never sent to the terminal: whatever
// a caller passes, nothing drawn can act as an escape sequence.
func (c canvas) text(x, y, maxX int, s string, st tcell.Style) int {
	s = Printable(s)
	maxX = min(maxX, c.w)
	if y < 0 || y >= c.h {
		return x
	}
	for s != "" && x < maxX {
		var w int
		rest, w := c.scr.Put(x, y, s, st)
		if w == 0 {
			if rest == s {
				break
			}
			s = rest
			continue
		}
		if x+w > maxX {
			c.scr.Put(x, y, " ", st)
			break
		}
		x += w
		s = rest
	}
	return x
}

// fill paints cells [x0, x1) of row y blank in st.
func (c canvas) fill(x0, x1, y int, st tcell.Style) {
	for x := max(x0, 0); x < min(x1, c.w); x++ {
		c.scr.Put(x, y, " ", st)
	}
}

// spans writes styled spans and returns the x after them.
func (c canvas) spans(x, y, maxX int, l line, th *Theme, base tcell.Style) int {
	for _, sp := range l {
		x = c.text(x, y, maxX, sp.text, roleStyle(sp.role, th, base))
	}
	return x
}

func roleStyle(r role, th *Theme, base tcell.Style) tcell.Style {
	switch r {
	case roleLabel:
		return th.Label
	case roleMuted:
		return th.Muted
	case roleError:
		return th.Error
	case roleWarn:
		return th.Warn
	case roleUnpriced:
		return th.Unpriced
	case roleJSONKey:
		return th.JSONKey
	case roleJSONString:
		return th.JSONString
	case roleJSONNumber:
		return th.JSONNumber
	case roleJSONLiteral:
		return th.JSONLiteral
	case roleJSONPunct:
		return th.JSONPunct
	case roleGaugeOK:
		return th.GaugeOK
	case roleGaugeWarn:
		return th.GaugeWarn
	case roleGaugeOver:
		return th.GaugeOver
	case roleGaugeValue:
		return th.Value
	}
	return base
}

// draw paints the whole screen from a snapshot and the view. It reads
// nothing else and changes nothing but the screen's cells (and cursor).
func draw(scr tcell.Screen, s *snapshot, v view, e env) {
	w, h := scr.Size()
	c := canvas{scr: scr, w: w, h: h}
	th := e.th
	scr.Fill(' ', th.Base)
	scr.HideCursor()
	if w < 20 || h < 8 {
		c.text(0, 0, w, "terminal too small", th.Base)
		return
	}
	v.w, v.h = w, h
	drawTitle(c, s, v, e)
	drawTotals(c, s, e)
	drawSpend(c, s, e, 2)
	drawChart(c, s, e, figureRows, v.headerRows()-figureRows)
	switch v.mode {
	case modeDetail:
		drawDetail(c, s, v, e)
	case modeGroups:
		drawGroups(c, s, v, e)
	default:
		drawTable(c, s, v, e)
	}
	if v.logs {
		drawLogs(c, v, e)
	}
	drawStatus(c, s, v, e)
	if v.help {
		drawHelp(c, e)
	}
}

// drawTitle is the top bar: the name, the window, the filter, the order,
// the grouping, and the help key.
func drawTitle(c canvas, s *snapshot, v view, e env) {
	th := e.th
	c.fill(0, c.w, 0, th.Title)
	right := " ? help "
	if deco := decorationFrame(th.Decoration, v.tick); deco != "" {
		right = deco + " " + right
	}
	maxX := c.w - width(right)
	x := c.text(0, 0, maxX, " Conduit ", th.TitleAccent)
	parts := []string{v.q.windowLabel(e.loc)}
	if f := formatFilter(v.q.filter); f != "" {
		parts = append(parts, "filter "+f)
	}
	if o := v.q.order; o.Key != ledger.SortStarted || o.Asc {
		parts = append(parts, "sort "+sortLabel(o))
	}
	if v.q.group != "" {
		parts = append(parts, "by "+string(v.q.group))
	}
	if v.q.filter.IncludeOther {
		parts = append(parts, "all requests")
	}
	if !s.loaded || s.qgen != v.qgen {
		parts = append(parts, "loading…")
	}
	c.text(x, 0, maxX, "│ "+strings.Join(parts, " │ "), th.Title)
	c.text(maxX, 0, c.w, right, th.Title)
}

func sortLabel(o ledger.Order) string {
	name := map[ledger.SortKey]string{
		ledger.SortStarted: "time", ledger.SortCost: "cost", ledger.SortInput: "input",
		ledger.SortOutput: "output", ledger.SortDuration: "duration",
	}[o.Key]
	if o.Asc {
		return name + " ↑"
	}
	return name + " ↓"
}

// segment is one figure of the header band.
type segment struct {
	label       string
	full, short string // the value with separators, and compact
	st          tcell.Style
	extra       string // a note after the value (failed, unpriced)
	extraSt     tcell.Style
	extraShort  string
}

// drawTotals is the header's second line: calls, cost, tokens and rate
// for the filter and window, and the Valohai sync's state on the right.
// Figures lose their separators (12.3M) and then the least important ones
// drop as the terminal narrows.
func drawTotals(c canvas, s *snapshot, e env) {
	th := e.th
	if syncText, syncSt := syncStatus(s, th); syncText != "" {
		sw := min(width(syncText)+1, max(c.w-40, c.w/2))
		c.text(c.w-sw+1, 1, c.w, truncate(syncText, sw-1), syncSt)
		c.w -= sw // the figures fit in what is left
	}
	if !s.totalsOK {
		if s.loaded {
			c.text(1, 1, c.w, "Reading the totals…", th.Muted)
		}
		return
	}
	t := s.timeline.Total
	segs := []segment{
		{label: "Calls ", full: groupDigits(t.Calls), short: compactNum(t.Calls), st: th.Value},
		{label: "Cost ", full: numfmt.USD(t.CostUSD), short: numfmt.USD(t.CostUSD), st: th.Value},
		{label: "In ", full: groupDigits(t.InputTokens), short: compactNum(t.InputTokens), st: th.Value},
		{label: "Out ", full: groupDigits(t.OutputTokens), short: compactNum(t.OutputTokens), st: th.Value},
	}
	if t.CostUSD == 0 {
		segs[1].full, segs[1].short = "$0.00", "$0.00"
	}
	if t.Errors > 0 {
		segs[0].extra, segs[0].extraShort, segs[0].extraSt = fmt.Sprintf(" (%s failed)", groupDigits(t.Errors)), fmt.Sprintf(" (%s failed)", compactNum(t.Errors)), th.Error
	}
	if t.Unpriced > 0 {
		segs[1].extra, segs[1].extraShort, segs[1].extraSt = fmt.Sprintf(" +%s unpriced", groupDigits(t.Unpriced)), fmt.Sprintf(" +%s unpriced", compactNum(t.Unpriced)), th.Unpriced
	}
	// The optional figures, most useful first: they drop from the end.
	if s.q.live() {
		rate := fmt.Sprintf("%.1f/min", s.perMin)
		segs = append(segs, segment{label: "Rate ", full: rate, short: rate, st: th.Value})
	}
	segs = append(segs, segment{label: "Cached ", full: groupDigits(t.CachedInputTokens), short: compactNum(t.CachedInputTokens), st: th.Value})
	if t.CacheWriteTokens > 0 {
		segs = append(segs, segment{label: "Cache wr ", full: groupDigits(t.CacheWriteTokens), short: compactNum(t.CacheWriteTokens), st: th.Value})
	}
	if t.ReasoningTokens > 0 {
		segs = append(segs, segment{label: "Reasoning ", full: groupDigits(t.ReasoningTokens), short: compactNum(t.ReasoningTokens), st: th.Value})
	}
	const gap = "  "
	render := func(segs []segment, short bool) (int, func(y int)) {
		total := 1
		for i, sg := range segs {
			if i > 0 {
				total += len(gap)
			}
			v, ex := sg.full, sg.extra
			if short {
				v, ex = sg.short, sg.extraShort
			}
			total += width(sg.label) + width(v) + width(ex)
		}
		return total, func(y int) {
			x := 1
			for i, sg := range segs {
				if i > 0 {
					x = c.text(x, y, c.w, gap, th.Base)
				}
				v, ex := sg.full, sg.extra
				if short {
					v, ex = sg.short, sg.extraShort
				}
				x = c.text(x, y, c.w, sg.label, th.Label)
				x = c.text(x, y, c.w, v, sg.st)
				x = c.text(x, y, c.w, ex, sg.extraSt)
			}
		}
	}
	// Full figures while the four main ones fit, then compact ones.
	for _, short := range []bool{false, true} {
		least := 4
		if short {
			least = 1
		}
		for n := len(segs); n >= least; n-- {
			if wd, paint := render(segs[:n], short); wd <= c.w {
				paint(1)
				return
			}
		}
	}
}

// syncStatus describes the Valohai sync for the header.
func syncStatus(s *snapshot, th *Theme) (string, tcell.Style) {
	if !s.syncOK {
		return "", th.Base
	}
	c, st := s.sync, s.syncState
	text := fmt.Sprintf("Sync %s pending · %s sent", groupDigits(c.Pending), groupDigits(c.Sent))
	if c.Failing > 0 || st.Failures > 0 {
		text += fmt.Sprintf(" · %s failing", groupDigits(c.Failing))
		if st.LastError != "" {
			text += ": " + st.LastError
		}
		return text, th.Error
	}
	return text, th.Muted
}

// drawTable is the calls table.
func drawTable(c canvas, s *snapshot, v view, e env) {
	th := e.th
	top := v.bodyTop()
	sorted := v.q.order.Key
	if sorted == ledger.SortStarted && !v.q.order.Asc {
		sorted = "" // the default order shows no arrow
	}
	cols := layoutColumns(c.w, !v.relTime, sorted)
	for _, col := range cols {
		title := col.title
		if col.id == colTime && !v.relTime {
			title = "Started"
		}
		if col.sort != "" && col.sort == v.q.order.Key && (col.sort != ledger.SortStarted || v.q.order.Asc) {
			title += map[bool]string{false: " ↓", true: " ↑"}[v.q.order.Asc]
		}
		c.text(col.x, top, col.x+col.w, pad(title, col.w, col.right), th.TableHeader)
	}
	rows := v.listRows()
	if len(s.rows) == 0 {
		msg := "No calls yet: point a client at the proxy (conduit env)."
		switch {
		case !s.loaded:
			msg = "Loading…"
		case v.q.filter != (ledger.Filter{IncludeOther: v.q.filter.IncludeOther}) || v.q.window != WindowAll:
			msg = fmt.Sprintf("No calls match in %s: press w for another window, c to clear the filter.", v.q.windowLabel(e.loc))
		}
		c.text(2, top+2, c.w, msg, th.Muted)
		return
	}
	var peaks map[colID]float64
	if v.bars {
		peaks = columnPeaks(s.rows, cols, e)
	}
	for i := 0; i < rows && v.top+i < len(s.rows); i++ {
		idx := v.top + i
		r := &s.rows[idx]
		y := top + 1 + i
		rowSt := th.Base
		switch outcomeRole(r.Outcome) {
		case roleError:
			rowSt = th.Error
		case roleWarn:
			rowSt = th.Warn
		}
		if r.Kind == ledger.KindOther {
			rowSt = th.Muted
		}
		selected := idx == v.sel
		if selected {
			rowSt = th.Selected
			c.fill(0, c.w, y, rowSt)
		}
		for _, col := range cols {
			text, val := cellText(col.id, r, e.now, e.loc, v.relTime)
			st := rowSt
			switch {
			case selected:
			case text == "-":
				st = th.Muted
			case col.id == colCost && r.Unpriced():
				st = th.Unpriced
			}
			cell := pad(text, col.w, col.right)
			if peak := peaks[col.id]; peak > 0 && val > 0 && !selected {
				n := int(math.Round(val / peak * float64(col.w)))
				n = min(max(n, 1), col.w)
				barSt := mergeBar(st, th.Bar)
				head, tail := splitCells(cell, n)
				x := c.text(col.x, y, col.x+col.w, head, barSt)
				c.text(x, y, col.x+col.w, tail, st)
				continue
			}
			c.text(col.x, y, col.x+col.w, cell, st)
		}
	}
}

// mergeBar is a cell's style with the bar style's background (or, for a
// theme without colours, its attributes).
func mergeBar(st, bar tcell.Style) tcell.Style {
	_, bg, attrs := bar.Decompose()
	if bg != tcell.ColorDefault {
		return st.Background(bg)
	}
	return st.Attributes(attrs)
}

// splitCells splits s after its first n cells.
func splitCells(s string, n int) (string, string) {
	x := 0
	for i, r := range s {
		if x >= n {
			return s[:i], s[i:]
		}
		x += width(string(r))
	}
	return s, ""
}

// columnPeaks is the largest value of each barred column over the loaded
// rows: a bar is a cell's share of it.
func columnPeaks(rows []ledger.Row, cols []placed, e env) map[colID]float64 {
	peaks := map[colID]float64{}
	for i := range rows {
		for _, col := range cols {
			if _, v := cellText(col.id, &rows[i], e.now, e.loc, true); v > peaks[col.id] {
				peaks[col.id] = v
			}
		}
	}
	return peaks
}

// drawDetail is one call, every field, scrolled.
func drawDetail(c canvas, s *snapshot, v view, e env) {
	th := e.th
	lines := detailLines(&v.detail, e.now, e.loc)
	top := v.bodyTop()
	h := v.bodyHeight()
	scroll := min(v.detailScroll, max(len(lines)-h, 0))
	for i := 0; i < h && scroll+i < len(lines); i++ {
		c.spans(1, top+i, c.w, lines[scroll+i], th, th.Base)
	}
	if len(lines) > h {
		// A scroll indicator on the right edge.
		pos := top + scroll*(h-1)/max(len(lines)-h, 1)
		c.text(c.w-1, pos, c.w, "█", th.Muted)
	}
}

// drawGroups is the grouped view: calls summed per group with a bar of
// each group's cost (or calls, when nothing is priced).
func drawGroups(c canvas, s *snapshot, v view, e env) {
	th := e.th
	top := v.bodyTop()
	keyTitle := map[ledger.GroupBy]string{
		ledger.ByModel: "Model", ledger.ByProvider: "Provider", ledger.ByClient: "Client",
		ledger.ByTag: "Tag", ledger.ByDay: "Day", ledger.ByProject: "Project", ledger.BySession: "Session",
	}[v.q.group]
	type gcol struct {
		title string
		w     int
		right bool
	}
	keyW := 24
	num := []gcol{{"Calls", 9, true}, {"Input", 12, true}, {"Output", 11, true}, {"Cost", 10, true}, {"Share", 6, true}}
	if c.w < 100 {
		keyW = 18
		num = []gcol{{"Calls", 7, true}, {"Input", 9, true}, {"Output", 8, true}, {"Cost", 10, true}, {"Share", 6, true}}
	}
	x := 1
	c.text(x, top, c.w, pad(keyTitle, keyW, false), th.TableHeader)
	x += keyW + 1
	for _, col := range num {
		c.text(x, top, c.w, pad(col.title, col.w, true), th.TableHeader)
		x += col.w + 1
	}
	barX := x
	barW := c.w - barX - 1
	if len(s.groups) == 0 {
		msg := "No calls in " + v.q.windowLabel(e.loc) + "."
		if !s.loaded || s.qgen != v.qgen {
			msg = "Loading…"
		}
		c.text(2, top+2, c.w, msg, th.Muted)
		return
	}
	spend := s.timeline.Total.CostUSD > 0
	var total, peak float64
	for _, g := range s.groups {
		m := groupMeasure(g, spend)
		total += m
		peak = math.Max(peak, m)
	}
	rows := v.listRows()
	for i := 0; i < rows && v.gtop+i < len(s.groups); i++ {
		idx := v.gtop + i
		g := s.groups[idx]
		y := top + 1 + i
		st := th.Base
		if idx == v.gsel {
			st = th.Selected
			c.fill(0, c.w, y, st)
		}
		key := g.Key
		if key == "" {
			key = "(unknown)"
			switch v.q.group {
			case ledger.ByTag:
				key = "(untagged)"
			case ledger.ByProject:
				key = "(no project)"
			case ledger.BySession:
				key = "(no session)"
			}
		}
		x := c.text(1, y, 1+keyW, pad(Printable(key), keyW, false), st)
		x++
		fmtN := func(n int64, w int) string {
			if g.Calls == g.NoUsage && n == 0 {
				return "-"
			}
			if s := groupDigits(n); width(s) <= w {
				return s
			}
			return compactNum(n)
		}
		share := 0.0
		if total > 0 {
			share = groupMeasure(g, spend) / total * 100
		}
		cost := numfmt.USD(g.CostUSD)
		costSt := st
		switch {
		case g.Calls == g.NoUsage:
			cost = "-"
		case g.Unpriced > 0 && g.CostUSD == 0:
			cost = unpricedMark
		case g.Unpriced > 0:
			cost += "+"
		}
		if g.Unpriced > 0 && idx != v.gsel {
			costSt = th.Unpriced
		}
		shareText := fmt.Sprintf("%.1f%%", share)
		switch {
		case g.Calls == g.NoUsage:
			shareText = "-"
		case spend && g.CostUSD == 0 && g.Unpriced > 0:
			shareText = "—" // its spend is unknown, not none
		}
		vals := []string{groupDigits(g.Calls), fmtN(g.InputTokens, num[1].w), fmtN(g.OutputTokens, num[2].w), cost, shareText}
		for j, col := range num {
			cst := st
			if j == 3 {
				cst = costSt
			}
			c.text(x, y, x+col.w, pad(vals[j], col.w, true), cst)
			x += col.w + 1
		}
		if barW > 0 && peak > 0 {
			barSt := th.Chart
			if idx == v.gsel {
				barSt = st
			}
			c.text(barX, y, barX+barW, hbar(groupMeasure(g, spend)/peak, barW), barSt)
		}
	}
}

func groupMeasure(g ledger.Group, spend bool) float64 {
	if spend {
		return g.CostUSD
	}
	return float64(g.Calls)
}

// hbar renders a horizontal bar of frac×w cells with eighth-cell
// precision.
func hbar(frac float64, w int) string {
	eighths := int(math.Round(math.Min(math.Max(frac, 0), 1) * float64(w) * 8))
	if frac > 0 && eighths == 0 {
		eighths = 1
	}
	partial := []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}
	return strings.Repeat("█", eighths/8) + partial[eighths%8]
}

// drawLogs is the log pane above the status line.
func drawLogs(c canvas, v view, e env) {
	th := e.th
	y0 := c.h - 1 - logRows
	c.fill(0, c.w, y0, th.TableHeader)
	c.text(1, y0, c.w, "Logs (L hides)", th.TableHeader)
	lines := e.logs
	if len(lines) == 0 {
		c.text(1, y0+1, c.w, "No log lines yet: the dashboard's own warnings (ledger read errors) appear here, and its", th.Muted)
		c.text(1, y0+2, c.w, "debug lines with -v. The proxy logs to its own terminal.", th.Muted)
		return
	}
	if n := logRows - 1; len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		st := th.Muted
		switch {
		case strings.Contains(l, "level=ERROR"):
			st = th.Error
		case strings.Contains(l, "level=WARN"):
			st = th.Warn
		}
		c.text(1, y0+1+i, c.w, l, st)
	}
}

// drawStatus is the bottom line: the position and the keys, the new-calls
// badge, or the filter prompt.
func drawStatus(c canvas, s *snapshot, v view, e env) {
	th := e.th
	y := c.h - 1
	c.fill(0, c.w, y, th.Status)
	if v.prompting {
		drawPrompt(c, s, v, e)
		return
	}
	right, rightSt := "", th.Status
	switch {
	case v.flash != "":
		right, rightSt = " "+v.flash+" ", th.StatusKey
	case s.err != nil:
		right, rightSt = " ledger: "+s.err.Error()+" ", th.Error
	case s.newCount > 0 && v.mode != modeGroups:
		right, rightSt = " "+fmt.Sprintf(th.BadgeFormat, groupDigits(s.newCount))+" ", th.Badge
	}
	right = truncate(right, c.w/2)
	maxX := c.w - width(right)
	x := 1
	switch v.mode {
	case modeList:
		if n := len(s.rows); n > 0 {
			pos := fmt.Sprintf("%s/%s", groupDigits(s.offset+int64(v.sel)+1), groupDigits(max(s.timeline.Total.Calls, s.offset+int64(n))))
			x = c.text(x, y, maxX, pos+"  ", th.Status)
		}
		if v.q.filter.IncludeOther {
			x = c.text(x, y, maxX, "+ non-LLM requests  ", th.StatusKey)
		}
		if o := v.q.order; o.Key != ledger.SortStarted || o.Asc {
			// Followed or not, new calls land where the order puts them:
			// say which order that is.
			x = c.text(x, y, maxX, "sorted by "+sortLabel(o)+"  ", th.StatusKey)
		} else if v.follow {
			x = c.text(x, y, maxX, "following  ", th.StatusKey)
		}
		all := "all requests"
		if v.q.filter.IncludeOther {
			all = "LLM calls only"
		}
		hints(c, x, y, maxX, th, [][2]string{{"⏎", "details"}, {"/", "filter"}, {"w", "window"}, {"s", "sort"}, {"g", "group"}, {"q", "quit"}, {"a", all}, {"f", "follow"}, {"t", timeHint(v)}, {"b", "bars"}, {"?", "help"}})
	case modeDetail:
		if i := indexOfSeq(s.rows, v.detail.Seq); i >= 0 {
			x = c.text(x, y, maxX, fmt.Sprintf("%s/%s  ", groupDigits(s.offset+int64(i)+1), groupDigits(max(s.timeline.Total.Calls, s.offset+int64(len(s.rows))))), th.Status)
		}
		hints(c, x, y, maxX, th, [][2]string{{"←", "back"}, {"↑↓", "scroll"}, {"[", "newer"}, {"]", "older"}, {"?", "help"}, {"q", "quit"}})
	case modeGroups:
		keys := [][2]string{{"⏎", "show calls"}, {"g", "next grouping"}, {"←", "back"}, {"w", "window"}, {"q", "quit"}}
		for _, g := range s.groups {
			if g.Unpriced > 0 {
				keys = append([][2]string{{"+", "some unpriced"}}, keys...)
				break
			}
		}
		hints(c, x, y, maxX, th, keys)
	}
	c.text(maxX, y, c.w, right, rightSt)
}

func timeHint(v view) string {
	if v.relTime {
		return "clock"
	}
	return "ago"
}

func hints(c canvas, x, y, maxX int, th *Theme, keys [][2]string) {
	for _, k := range keys {
		if x+width(k[0])+width(k[1])+3 > maxX {
			return
		}
		x = c.text(x, y, maxX, k[0], th.StatusKey)
		x = c.text(x, y, maxX, " "+k[1]+"  ", th.Status)
	}
}

func indexOfSeq(rows []ledger.Row, seq int64) int {
	for i := range rows {
		if rows[i].Seq == seq {
			return i
		}
	}
	return -1
}

// drawPrompt is the filter prompt on the status line, with completions
// for the field being typed on the line above.
func drawPrompt(c canvas, s *snapshot, v view, e env) {
	th := e.th
	y := c.h - 1
	c.fill(0, c.w, y, th.Base)
	x := c.text(0, y, c.w, "/ ", th.Prompt)
	runes := []rune(v.prompt)
	cur := min(max(v.cursor, 0), len(runes))
	before := string(runes[:cur])
	x0 := x
	x = c.text(x, y, c.w, v.prompt, th.Prompt)
	c.scr.ShowCursor(min(x0+width(before), c.w-1), y)
	note, noteSt := "  word  model:gpt-4*  provider: client: tag: project: session: status:  ⇥ complete  ⏎ apply  esc cancel", th.Muted
	if v.promptErr != "" {
		note, noteSt = "  "+v.promptErr, th.Error
	}
	c.text(x, y, c.w, note, noteSt)
	// Completions for the term being typed.
	key, _, ok := strings.Cut(v.prompt[lastTermStart(v.prompt):], ":")
	if !ok {
		return
	}
	var cands []string
	for _, k := range filterKeys {
		if key != "" && strings.HasPrefix(k, strings.ToLower(key)) {
			cands = s.suggest[k]
			if k == "status" {
				cands = statusWords
			}
			break
		}
	}
	if len(cands) == 0 {
		return
	}
	c.fill(0, c.w, y-1, th.Overlay)
	c.text(1, y-1, c.w, strings.Join(cands, "  "), th.Overlay)
}

// helpColumns are the help overlay's content: every key, by where it
// works ("" keys are headings).
var helpColumns = [2][][2]string{{
	{"", "Everywhere"},
	{"q  Ctrl-C", "quit"},
	{"?", "help (any key closes)"},
	{"/", "filter: word, key:glob*"},
	{"c", "clear the filter"},
	{"a", "non-LLM requests too"},
	{"w  W", "time window (1h…all)"},
	{"s  S", "sort column / direction"},
	{"g", "group: model, provider,"},
	{"~", "project, session,"},
	{"~", "client, tag, day"},
	{"t", "relative / clock times"},
	{"b", "data bars"},
	{"T", "next theme"},
	{"L", "log pane"},
	{"r", "re-read the ledger"},
}, {
	{"", "Calls"},
	{"↑↓ j k", "move (mouse wheel too)"},
	{"PgUp PgDn", "move a page"},
	{"Home End G", "newest / oldest call"},
	{"f", "follow new calls"},
	{"⏎ → l", "details (click twice)"},
	{"Esc", "back (at the top: quit)"},
	{"", "Details"},
	{"Esc ← h ⌫", "back"},
	{"[  ]", "newer / older call"},
	{"↑↓ PgUp PgDn", "scroll"},
	{"", "Groups"},
	{"⏎ → l", "show the group's calls"},
	{"Esc ← h", "back to all calls"},
}}

// drawHelp is the help overlay, centred: two columns side by side when the
// terminal is wide enough, else one after the other (clipped).
func drawHelp(c canvas, e env) {
	th := e.th
	const keyW, colW = 13, 39
	cols := helpColumns[:]
	var rows [][][2]string
	if c.w >= 2*colW+2 {
		rows = [][][2]string{cols[0], cols[1]}
	} else {
		rows = [][][2]string{append(append([][2]string{}, cols[0]...), cols[1]...)}
	}
	n := 0
	for _, r := range rows {
		n = max(n, len(r))
	}
	w := min(len(rows)*colW+2, c.w)
	h := min(n+3, c.h)
	x0, y0 := (c.w-w)/2, (c.h-h)/2
	for y := y0; y < y0+h; y++ {
		c.fill(x0, x0+w, y, th.Overlay)
	}
	c.text(x0+2, y0, x0+w, "Keys", th.Overlay.Bold(true))
	for ci, col := range rows {
		cx := x0 + 1 + ci*colW
		for i, k := range col {
			y := y0 + 2 + i
			if y >= y0+h {
				break
			}
			if k[0] == "" {
				c.text(cx+1, y, cx+colW, k[1], th.Overlay.Bold(true))
				continue
			}
			if k[0] != "~" {
				c.text(cx+2, y, cx+colW, pad(k[0], keyW, false), th.Overlay.Bold(true))
			}
			c.text(cx+2+keyW, y, cx+colW-1, k[1], th.Overlay)
		}
	}
}
