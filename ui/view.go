package ui

import (
	"slices"
	"time"
	"unicode/utf8"

	"github.com/gdamore/tcell/v2"

	"github.com/valohai/conduit/ledger"
)

// mode is what the body of the screen shows.
type mode int

const (
	modeList   mode = iota // the calls table
	modeDetail             // one call, every field
	modeGroups             // calls summed per group, with bars
)

// view is the screen's state apart from the data: what is selected,
// scrolled, toggled and asked for. It is a value: handleKey and
// applySnapshot return a changed copy, so key handling is a pure
// function that tests call directly.
type view struct {
	w, h int

	mode     mode
	sel, top int    // the selected row and the first one shown (indexes into the snapshot's rows)
	selSeq   int64  // the selected row's seq, to keep it selected as rows arrive
	ahead    int    // rows past the loaded ones the user moved towards (taken when they load)
	toEnd    bool   // select the last row once the end of the order is loaded
	follow   bool   // keep the newest (first) row selected
	relTime  bool   // "3m ago" rather than a clock time
	bars     bool   // in-cell data bars
	help     bool   // the help overlay
	logs     bool   // the log pane
	theme    int    // index into ThemeNames
	tick     int    // animation frame
	flash    string // a note for the status line, until the next key

	prompting bool   // the filter prompt is open
	prompt    string // its text
	cursor    int    // its cursor, in runes
	promptErr string // why the last Enter was refused

	q    query  // what is asked of the ledger
	qgen uint64 // bumped whenever q changes

	detail       ledger.Row // the call the detail view shows (a copy)
	detailScroll int

	gsel, gtop int // the grouped view's selection and scroll
	// back are the grouped views drilled down from, innermost last: Esc
	// in the list returns to the last one (and quits when there is none).
	// Never appended to in place: copies of the view share it.
	back []backTo

	// Requests to the model (see wants).
	mark                         int64
	older, newer                 uint64
	head, tail, suggest, refresh uint64
	quit                         bool
}

// backTo is a grouped view as it was when a group was opened.
type backTo struct {
	q          query
	gsel, gtop int
}

// Layout: a header band (the title, the window's totals, today's and the
// month's spend with the budgets, and the spend chart), the body, a status
// line, and the log pane above the status line when shown.
const (
	figureRows = 3
	logRows    = 6
)

// headerRows is how many rows the header band takes: the details of one
// call leave out the chart, to show more of the call.
func (v view) headerRows() int {
	if v.mode == modeDetail {
		return figureRows
	}
	return figureRows + chartRows(v.h)
}

// bodyTop is the first row of the body.
func (v view) bodyTop() int { return v.headerRows() }

// bodyHeight is how many rows the body has.
func (v view) bodyHeight() int {
	h := v.h - v.headerRows() - 1
	if v.logs {
		h -= logRows
	}
	return max(h, 1)
}

// listRows is how many calls (or groups) fit under the table's header.
func (v view) listRows() int { return max(v.bodyHeight()-1, 1) }

// wants is what the view asks of the model.
func (v view) wants() wants {
	return wants{
		q: v.q, qgen: v.qgen, follow: v.follow, mark: v.mark, anchor: v.selSeq,
		older: v.older, newer: v.newer, head: v.head, tail: v.tail,
		suggest: v.suggest, refresh: v.refresh,
	}
}

// setQuery switches to q: back to the first row, following.
func (v view) setQuery(q query) view {
	v.q = q
	v.qgen++
	v.sel, v.top, v.selSeq, v.follow, v.toEnd = 0, 0, 0, true, false
	v.gsel, v.gtop = 0, 0
	return v
}

// handleKey applies a key press. s is the snapshot on screen (never nil).
func handleKey(v view, ev *tcell.EventKey, s *snapshot) view {
	v.flash = ""
	if ev.Key() == tcell.KeyCtrlC {
		v.quit = true
		return v
	}
	if v.help {
		v.help = false
		return v
	}
	if v.prompting {
		return promptKey(v, ev, s)
	}
	// Keys that work everywhere.
	if ev.Key() == tcell.KeyRune {
		switch ev.Rune() {
		case 'q':
			v.quit = true
			return v
		case '?':
			v.help = true
			return v
		case '/':
			v.prompting, v.promptErr = true, ""
			v.prompt = formatFilter(v.q.filter)
			if v.prompt != "" {
				v.prompt += " "
			}
			v.cursor = utf8.RuneCountInString(v.prompt)
			v.suggest++
			return v
		case 'w', 'W':
			q := v.q
			q.window = nextWindow(q.window, ev.Rune() == 'W')
			return v.setQuery(q)
		case 's':
			q := v.q
			i := slices.Index(sortKeys, q.order.Key)
			q.order = ledger.Order{Key: sortKeys[(i+1)%len(sortKeys)]}
			return v.setQuery(q)
		case 'S':
			q := v.q
			q.order = q.order.Reverse()
			return v.setQuery(q)
		case 'g':
			q := v.q
			i := slices.Index(groupings, q.group)
			q.group = groupings[(i+1)%len(groupings)]
			v = v.setQuery(q)
			v.mode = modeList
			if q.group != "" {
				v.mode = modeGroups
			}
			return v
		case 'a':
			// Requests that are not LLM calls (models lists, telemetry,
			// uploads) are kept apart; this shows them among the calls.
			q := v.q
			q.filter.IncludeOther = !q.filter.IncludeOther
			v = v.setQuery(q)
			v.flash = map[bool]string{true: "showing every request, LLM calls or not", false: "showing LLM calls only"}[q.filter.IncludeOther]
			return v
		case 'c':
			if v.q.filter == (ledger.Filter{IncludeOther: v.q.filter.IncludeOther}) && v.q.window != windowDate {
				return v
			}
			q := v.q
			q.filter = ledger.Filter{IncludeOther: v.q.filter.IncludeOther}
			if q.window == windowDate {
				q.window = WindowDay
			}
			return v.setQuery(q)
		case 'b':
			v.bars = !v.bars
			return v
		case 't':
			v.relTime = !v.relTime
			return v
		case 'T':
			v.theme = (v.theme + 1) % len(ThemeNames())
			v.flash = "theme " + ThemeNames()[v.theme]
			return v
		case 'L':
			v.logs = !v.logs
			return v
		case 'r':
			v.refresh++
			return v
		}
	}
	switch v.mode {
	case modeDetail:
		return detailKey(v, ev, s)
	case modeGroups:
		return groupKey(v, ev, s)
	}
	return listKey(v, ev, s)
}

// groupings are what `g` cycles through ("" is the calls list).
var groupings = []ledger.GroupBy{"", ledger.ByModel, ledger.ByProvider, ledger.ByProject, ledger.BySession, ledger.ByClient, ledger.ByTag, ledger.ByDay}

func listKey(v view, ev *tcell.EventKey, s *snapshot) view {
	n := len(s.rows)
	page := v.listRows()
	switch ev.Key() {
	case tcell.KeyEscape:
		if len(v.back) == 0 {
			v.quit = true // the top view
			break
		}
		b := v.back[len(v.back)-1]
		v.back = slices.Clip(v.back[:len(v.back)-1])
		v = v.setQuery(b.q)
		v.mode, v.gsel, v.gtop = modeGroups, b.gsel, b.gtop
	case tcell.KeyUp:
		v = v.moveTo(v.pos()-1, s)
	case tcell.KeyDown:
		v = v.moveTo(v.pos()+1, s)
	case tcell.KeyPgUp:
		v = v.moveTo(v.pos()-page, s)
	case tcell.KeyPgDn:
		v = v.moveTo(v.pos()+page, s)
	case tcell.KeyHome:
		v = v.toStart(s)
	case tcell.KeyEnd:
		v.follow = false
		v.mark = s.maxSeq
		if s.atEnd {
			v = v.moveTo(n-1, s)
		} else {
			v.tail++
			v.toEnd = true
		}
	case tcell.KeyEnter, tcell.KeyRight:
		v = v.openDetail(s)
	case tcell.KeyRune:
		switch ev.Rune() {
		case 'k':
			v = v.moveTo(v.pos()-1, s)
		case 'j':
			v = v.moveTo(v.pos()+1, s)
		case 'l':
			v = v.openDetail(s)
		case 'G':
			return listKey(v, tcell.NewEventKey(tcell.KeyEnd, 0, tcell.ModNone), s)
		case 'f':
			if v.follow {
				v.follow = false
				v.mark = s.maxSeq
			} else {
				v = v.toStart(s)
			}
		}
	}
	return v
}

// pos is where the user has moved to: the selected row, plus the rows
// past the loaded ones still to come.
func (v view) pos() int { return v.sel + v.ahead }

// toStart selects the first row and follows new calls.
func (v view) toStart(s *snapshot) view {
	v.sel, v.top, v.follow, v.toEnd = 0, 0, true, false
	if len(s.rows) > 0 {
		v.selSeq = s.rows[0].Seq
	}
	if !s.atStart {
		v.head++
	}
	return v
}

// moveTo selects row i (clamped), scrolling to keep it visible. Leaving
// the first row stops following; reaching it (with nothing above loaded)
// follows again.
func (v view) moveTo(i int, s *snapshot) view {
	n := len(s.rows)
	v.toEnd = false
	v.ahead = 0
	if i >= n && !s.atEnd {
		v.ahead = i - max(n-1, 0)
	}
	if n == 0 {
		v.sel, v.top = 0, 0
		return v
	}
	i = min(max(i, 0), n-1)
	v.sel = i
	v.selSeq = s.rows[i].Seq
	if i == 0 && s.atStart {
		v.follow = true
	} else if v.follow {
		v.follow = false
		v.mark = s.maxSeq
	}
	return v.scrollToSel(n)
}

// scrollToSel adjusts top so that sel is visible.
func (v view) scrollToSel(n int) view {
	rows := v.listRows()
	if v.sel < v.top {
		v.top = v.sel
	}
	if v.sel >= v.top+rows {
		v.top = v.sel - rows + 1
	}
	v.top = max(min(v.top, n-rows), 0)
	return v
}

func (v view) openDetail(s *snapshot) view {
	if v.sel < len(s.rows) {
		v.mode = modeDetail
		v.detail = s.rows[v.sel]
		v.detailScroll = 0
	}
	return v
}

func detailKey(v view, ev *tcell.EventKey, s *snapshot) view {
	page := v.bodyHeight()
	maxScroll := max(len(detailLines(&v.detail, time.Time{}, time.UTC))-page, 0)
	scroll := func(d int) { v.detailScroll = min(max(v.detailScroll+d, 0), maxScroll) }
	step := func(d int) {
		i := slices.IndexFunc(s.rows, func(r ledger.Row) bool { return r.Seq == v.detail.Seq })
		if i < 0 {
			return
		}
		v = v.moveTo(i+d, s)
		v.detail = s.rows[v.sel]
		v.detailScroll = 0
	}
	switch ev.Key() {
	case tcell.KeyEscape, tcell.KeyLeft, tcell.KeyBackspace:
		v.mode = modeList
		if v.q.group != "" {
			v.mode = modeGroups
		}
	case tcell.KeyUp:
		scroll(-1)
	case tcell.KeyDown:
		scroll(1)
	case tcell.KeyPgUp:
		scroll(-page)
	case tcell.KeyPgDn:
		scroll(page)
	case tcell.KeyHome:
		v.detailScroll = 0
	case tcell.KeyEnd:
		v.detailScroll = maxScroll
	case tcell.KeyRune:
		switch ev.Rune() {
		case 'h':
			v.mode = modeList
		case 'k':
			scroll(-1)
		case 'j':
			scroll(1)
		case '[':
			step(-1)
		case ']':
			step(1)
		}
	}
	return v
}

func groupKey(v view, ev *tcell.EventKey, s *snapshot) view {
	n := len(s.groups)
	page := v.listRows()
	move := func(i int) {
		v.gsel = min(max(i, 0), max(n-1, 0))
		if v.gsel < v.gtop {
			v.gtop = v.gsel
		}
		if v.gsel >= v.gtop+page {
			v.gtop = v.gsel - page + 1
		}
	}
	switch ev.Key() {
	case tcell.KeyEscape, tcell.KeyLeft, tcell.KeyBackspace:
		q := v.q
		q.group = ""
		v = v.setQuery(q)
		v.mode = modeList
	case tcell.KeyUp:
		move(v.gsel - 1)
	case tcell.KeyDown:
		move(v.gsel + 1)
	case tcell.KeyPgUp:
		move(v.gsel - page)
	case tcell.KeyPgDn:
		move(v.gsel + page)
	case tcell.KeyHome:
		move(0)
	case tcell.KeyEnd:
		move(n - 1)
	case tcell.KeyEnter, tcell.KeyRight:
		if v.gsel < n {
			v = drillDown(v, s.groups[v.gsel])
		}
	case tcell.KeyRune:
		switch ev.Rune() {
		case 'k':
			move(v.gsel - 1)
		case 'j':
			move(v.gsel + 1)
		case 'h':
			return groupKey(v, tcell.NewEventKey(tcell.KeyEscape, 0, tcell.ModNone), s)
		case 'l':
			return groupKey(v, tcell.NewEventKey(tcell.KeyEnter, 0, tcell.ModNone), s)
		}
	}
	return v
}

// drillDown lists the calls of one group: its key becomes part of the
// filter (a day becomes the window).
func drillDown(v view, g ledger.Group) view {
	q := v.q
	switch q.group {
	case ledger.ByModel:
		q.filter.Model = g.Key
	case ledger.ByProvider:
		q.filter.Provider = g.Key
	case ledger.ByClient:
		q.filter.Client = g.Key
	case ledger.ByTag:
		q.filter.Tag = g.Key
	case ledger.ByProject:
		q.filter.Project = g.Key
	case ledger.BySession:
		q.filter.Session = g.Key
	case ledger.ByDay:
		if d, err := time.ParseInLocation("2006-01-02", g.Key, time.Local); err == nil {
			q.window, q.date = windowDate, d
		}
	}
	if g.Key == "" && q.group != ledger.ByDay {
		// The unknown / untagged group cannot be written as a filter.
		return v
	}
	q.group = ""
	v.back = append(slices.Clip(v.back), backTo{q: v.q, gsel: v.gsel, gtop: v.gtop})
	v = v.setQuery(q)
	v.mode = modeList
	return v
}

func promptKey(v view, ev *tcell.EventKey, s *snapshot) view {
	runes := []rune(v.prompt)
	v.cursor = min(max(v.cursor, 0), len(runes))
	switch ev.Key() {
	case tcell.KeyEscape:
		v.prompting, v.promptErr = false, ""
	case tcell.KeyEnter:
		f, err := parseFilter(v.prompt)
		if err != nil {
			v.promptErr = err.Error()
			return v
		}
		v.prompting, v.promptErr = false, ""
		f.IncludeOther = v.q.filter.IncludeOther // a toggle of its own (a)
		if f != v.q.filter {
			q := v.q
			q.filter = f
			v = v.setQuery(q)
			if q.group == "" {
				v.mode = modeList
			}
		}
	case tcell.KeyBackspace:
		if v.cursor > 0 {
			runes = slices.Delete(slices.Clone(runes), v.cursor-1, v.cursor)
			v.cursor--
		}
	case tcell.KeyDelete:
		if v.cursor < len(runes) {
			runes = slices.Delete(slices.Clone(runes), v.cursor, v.cursor+1)
		}
	case tcell.KeyLeft:
		v.cursor = max(v.cursor-1, 0)
	case tcell.KeyRight:
		v.cursor = min(v.cursor+1, len(runes))
	case tcell.KeyHome, tcell.KeyCtrlA:
		v.cursor = 0
	case tcell.KeyEnd, tcell.KeyCtrlE:
		v.cursor = len(runes)
	case tcell.KeyCtrlU:
		runes, v.cursor = nil, 0
	case tcell.KeyTab:
		done := complete(v.prompt, s.suggest)
		runes = []rune(done)
		v.cursor = len(runes)
	case tcell.KeyRune:
		runes = slices.Insert(slices.Clone(runes), v.cursor, ev.Rune())
		v.cursor++
	}
	v.prompt = string(runes)
	return v
}

// handleMouse applies a mouse event: the wheel scrolls, a click selects
// a row (a second click on the selected row opens it).
func handleMouse(v view, ev *tcell.EventMouse, s *snapshot) view {
	if v.help || v.prompting {
		return v
	}
	btn := ev.Buttons()
	_, y := ev.Position()
	switch v.mode {
	case modeDetail:
		switch {
		case btn&tcell.WheelUp != 0:
			return detailKey(v, tcell.NewEventKey(tcell.KeyUp, 0, tcell.ModNone), s)
		case btn&tcell.WheelDown != 0:
			return detailKey(v, tcell.NewEventKey(tcell.KeyDown, 0, tcell.ModNone), s)
		}
	case modeGroups:
		switch {
		case btn&tcell.WheelUp != 0:
			return groupKey(v, tcell.NewEventKey(tcell.KeyUp, 0, tcell.ModNone), s)
		case btn&tcell.WheelDown != 0:
			return groupKey(v, tcell.NewEventKey(tcell.KeyDown, 0, tcell.ModNone), s)
		case btn&tcell.Button1 != 0:
			i := v.gtop + y - v.bodyTop() - 1
			if y > v.bodyTop() && i < len(s.groups) {
				v.gsel = i
			}
		}
	default:
		switch {
		case btn&tcell.WheelUp != 0:
			return v.moveTo(v.sel-1, s)
		case btn&tcell.WheelDown != 0:
			return v.moveTo(v.sel+1, s)
		case btn&tcell.Button1 != 0:
			i := v.top + y - v.bodyTop() - 1
			if y > v.bodyTop() && y <= v.bodyTop()+v.listRows() && i < len(s.rows) {
				if i == v.sel {
					return v.openDetail(s)
				}
				return v.moveTo(i, s)
			}
		}
	}
	return v
}

// applySnapshot keeps the view on the same call when new data arrives:
// the selected row stays selected (and on the same screen line), unless
// the view follows the first row.
func applySnapshot(v view, old, s *snapshot) view {
	n := len(s.rows)
	if s.qgen != v.qgen {
		return v // an answer to an older query; the next one follows
	}
	switch {
	case v.toEnd && s.atEnd:
		v.toEnd = false
		v.sel = max(n-1, 0)
		v.top = max(n-v.listRows(), 0)
		if n > 0 {
			v.selSeq = s.rows[v.sel].Seq
		}
		return v
	case v.follow:
		v.sel, v.top = 0, 0
		if n > 0 {
			v.selSeq = s.rows[0].Seq
		}
		if !s.atStart {
			v.head++
		}
		return v
	}
	if i := slices.IndexFunc(s.rows, func(r ledger.Row) bool { return r.Seq == v.selSeq }); i >= 0 {
		v.top += i - v.sel
		v.sel = i
	} else {
		v.sel = min(v.sel, max(n-1, 0))
		if n > 0 {
			v.selSeq = s.rows[v.sel].Seq
		}
	}
	v.top = max(v.top, 0)
	v = v.scrollToSel(n)
	v.gsel = min(v.gsel, max(len(s.groups)-1, 0))
	if v.ahead > 0 && n > 0 && (old == nil || len(old.rows) == 0 || old.rows[len(old.rows)-1].Seq != s.rows[n-1].Seq || s.atEnd) {
		// The user moved past the loaded rows: go on now they are here.
		v = v.moveTo(v.sel+v.ahead, s)
	}
	return v
}

// lookahead is how close to the loaded edge the selection gets before the
// next page is asked for.
const lookahead = 50

// pageRequests asks for the next page when the selection nears the end
// (or the start) of the loaded rows.
func pageRequests(v view, s *snapshot) view {
	if s.qgen != v.qgen || !s.loaded || v.mode == modeGroups {
		return v
	}
	n := len(s.rows)
	if !s.atEnd && (v.sel >= n-lookahead || v.ahead > 0) {
		v.older = s.gen
	}
	if !s.atStart && !v.follow && v.sel < lookahead {
		v.newer = s.gen
	}
	return v
}

// sortKeys lists the sort keys in the order `s` cycles through them.
var sortKeys = []ledger.SortKey{ledger.SortStarted, ledger.SortCost, ledger.SortInput, ledger.SortOutput, ledger.SortDuration}
