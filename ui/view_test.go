package ui

import (
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/valohai/conduit/ledger"
)

// rowsSnap is a snapshot of n calls, newest first, seqs n..1.
func rowsSnap(n int, atEnd bool) *snapshot {
	s := &snapshot{gen: 7, qgen: 1, loaded: true, totalsOK: true, atStart: true, atEnd: atEnd, maxSeq: int64(n)}
	for i := range n {
		r := call(i, time.Duration(i)*time.Minute)
		s.rows = append(s.rows, ledger.Row{Seq: int64(n - i), Record: r})
	}
	s.timeline.Total.Calls = int64(n)
	return s
}

func testView() view {
	return view{w: 80, h: 24, follow: true, relTime: true, qgen: 1,
		q: query{window: WindowAll, order: ledger.Order{Key: ledger.SortStarted}}}
}

func key(k tcell.Key) *tcell.EventKey { return tcell.NewEventKey(k, 0, tcell.ModNone) }
func runeKey(r rune) *tcell.EventKey  { return tcell.NewEventKey(tcell.KeyRune, r, tcell.ModNone) }

func press(v view, s *snapshot, keys ...*tcell.EventKey) view {
	for _, k := range keys {
		v = handleKey(v, k, s)
	}
	return v
}

// TestHandleKey drives the pure key handler: each case presses keys on a
// fresh view over 100 loaded calls and checks the view it returns.
func TestHandleKey(t *testing.T) {
	down, up := key(tcell.KeyDown), key(tcell.KeyUp)
	for _, tt := range []struct {
		name  string
		atEnd bool
		keys  []*tcell.EventKey
		check func(t *testing.T, v view, s *snapshot)
	}{
		{"down stops following", true, []*tcell.EventKey{down, down}, func(t *testing.T, v view, s *snapshot) {
			if v.sel != 2 || v.follow || v.mark != s.maxSeq || v.selSeq != s.rows[2].Seq {
				t.Errorf("sel %d follow %v mark %d selSeq %d", v.sel, v.follow, v.mark, v.selSeq)
			}
		}},
		{"back to the top follows", true, []*tcell.EventKey{down, runeKey('j'), runeKey('k'), up}, func(t *testing.T, v view, s *snapshot) {
			if v.sel != 0 || !v.follow {
				t.Errorf("sel %d follow %v", v.sel, v.follow)
			}
		}},
		{"up at the top stays", true, []*tcell.EventKey{up, up}, func(t *testing.T, v view, s *snapshot) {
			if v.sel != 0 || v.top != 0 {
				t.Errorf("sel %d top %d", v.sel, v.top)
			}
		}},
		{"page down scrolls", true, []*tcell.EventKey{key(tcell.KeyPgDn), key(tcell.KeyPgDn)}, func(t *testing.T, v view, s *snapshot) {
			if v.sel != 28 || v.top != 15 {
				t.Errorf("sel %d top %d (14 rows a page under the chart)", v.sel, v.top)
			}
		}},
		{"end with all loaded", true, []*tcell.EventKey{key(tcell.KeyEnd)}, func(t *testing.T, v view, s *snapshot) {
			if v.sel != 99 || v.top != 86 || v.tail != 0 {
				t.Errorf("sel %d top %d tail %d", v.sel, v.top, v.tail)
			}
		}},
		{"end with more to load", false, []*tcell.EventKey{runeKey('G')}, func(t *testing.T, v view, s *snapshot) {
			if v.tail != 1 || !v.toEnd || v.follow {
				t.Errorf("tail %d toEnd %v follow %v", v.tail, v.toEnd, v.follow)
			}
		}},
		{"past the loaded rows waits for them", false, []*tcell.EventKey{key(tcell.KeyEnd), key(tcell.KeyHome), key(tcell.KeyPgDn), key(tcell.KeyPgDn), key(tcell.KeyPgDn), key(tcell.KeyPgDn), key(tcell.KeyPgDn), key(tcell.KeyPgDn), key(tcell.KeyPgDn), key(tcell.KeyPgDn)}, func(t *testing.T, v view, s *snapshot) {
			if v.sel != 99 || v.ahead != 13 || v.pos() != 112 {
				t.Errorf("sel %d ahead %d", v.sel, v.ahead)
			}
		}},
		{"f toggles following", true, []*tcell.EventKey{runeKey('f')}, func(t *testing.T, v view, s *snapshot) {
			if v.follow || v.mark != s.maxSeq {
				t.Errorf("follow %v mark %d", v.follow, v.mark)
			}
		}},
		{"enter opens the selected call", true, []*tcell.EventKey{down, key(tcell.KeyEnter)}, func(t *testing.T, v view, s *snapshot) {
			if v.mode != modeDetail || v.detail.ID != s.rows[1].ID {
				t.Errorf("mode %d detail %s", v.mode, v.detail.ID)
			}
		}},
		{"l and right open too", true, []*tcell.EventKey{runeKey('l'), key(tcell.KeyEscape), key(tcell.KeyRight)}, func(t *testing.T, v view, s *snapshot) {
			if v.mode != modeDetail || v.quit {
				t.Errorf("mode %d quit %v", v.mode, v.quit)
			}
		}},
		{"detail steps to older and newer calls", true, []*tcell.EventKey{key(tcell.KeyEnter), runeKey(']'), runeKey(']'), runeKey('[')}, func(t *testing.T, v view, s *snapshot) {
			if v.detail.ID != s.rows[1].ID || v.sel != 1 {
				t.Errorf("detail %s sel %d", v.detail.ID, v.sel)
			}
		}},
		{"detail scroll is clamped", true, []*tcell.EventKey{key(tcell.KeyEnter), key(tcell.KeyPgDn), key(tcell.KeyPgDn), key(tcell.KeyPgDn), runeKey('j')}, func(t *testing.T, v view, s *snapshot) {
			lines := len(detailLines(&v.detail, time.Time{}, time.UTC))
			if want := lines - v.bodyHeight(); v.detailScroll != want {
				t.Errorf("scroll %d, want %d", v.detailScroll, want)
			}
		}},
		{"detail back keys", true, []*tcell.EventKey{key(tcell.KeyEnter), key(tcell.KeyBackspace), key(tcell.KeyEnter), runeKey('h'), key(tcell.KeyEnter), key(tcell.KeyLeft)}, func(t *testing.T, v view, s *snapshot) {
			if v.mode != modeList || v.quit {
				t.Errorf("mode %d quit %v", v.mode, v.quit)
			}
		}},
		{"esc in the list quits", true, []*tcell.EventKey{key(tcell.KeyEscape)}, func(t *testing.T, v view, s *snapshot) {
			if !v.quit {
				t.Error("not quitting")
			}
		}},
		{"help swallows the next key", true, []*tcell.EventKey{runeKey('?'), runeKey('j')}, func(t *testing.T, v view, s *snapshot) {
			if v.help || v.sel != 0 {
				t.Errorf("help %v sel %d", v.help, v.sel)
			}
		}},
		{"ctrl-c quits from the prompt", true, []*tcell.EventKey{runeKey('/'), tcell.NewEventKey(tcell.KeyCtrlC, 0, tcell.ModCtrl)}, func(t *testing.T, v view, s *snapshot) {
			if !v.quit {
				t.Error("not quitting")
			}
		}},
		{"prompt edits and applies", true, keysOf("/model:gpx", key(tcell.KeyBackspace), runeKey('t'), key(tcell.KeyLeft), key(tcell.KeyLeft), key(tcell.KeyDelete), runeKey('p'), key(tcell.KeyEnter)), func(t *testing.T, v view, s *snapshot) {
			if v.prompting || v.q.filter.Model != "gpt" || v.qgen != 2 || !v.follow {
				t.Errorf("prompting %v filter %+v qgen %d", v.prompting, v.q.filter, v.qgen)
			}
		}},
		{"prompt refuses a bad filter", true, keysOf("/bad:x", key(tcell.KeyEnter)), func(t *testing.T, v view, s *snapshot) {
			if !v.prompting || v.promptErr == "" || v.qgen != 1 {
				t.Errorf("prompting %v err %q qgen %d", v.prompting, v.promptErr, v.qgen)
			}
		}},
		{"prompt esc cancels", true, keysOf("/model:x", key(tcell.KeyEscape)), func(t *testing.T, v view, s *snapshot) {
			if v.prompting || v.q.filter.Model != "" || v.qgen != 1 || v.quit {
				t.Errorf("prompting %v filter %+v", v.prompting, v.q.filter)
			}
		}},
		{"window, sort and reverse", true, keysOf("wwsS"), func(t *testing.T, v view, s *snapshot) {
			if v.q.window != WindowToday || v.q.order != (ledger.Order{Key: ledger.SortCost, Asc: true}) || v.qgen != 5 {
				t.Errorf("window %v order %+v qgen %d", v.q.window, v.q.order, v.qgen)
			}
		}},
		{"groupings cycle back to the list", true, keysOf("gggggggg"), func(t *testing.T, v view, s *snapshot) {
			if v.q.group != "" || v.mode != modeList {
				t.Errorf("group %q mode %d", v.q.group, v.mode)
			}
		}},
		{"toggles", true, keysOf("btTL"), func(t *testing.T, v view, s *snapshot) {
			if !v.bars || v.relTime || v.theme != 1 || !v.logs {
				t.Errorf("bars %v relTime %v theme %d logs %v", v.bars, v.relTime, v.theme, v.logs)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := rowsSnap(100, tt.atEnd)
			tt.check(t, press(testView(), s, tt.keys...), s)
		})
	}
}

func keysOf(typed string, more ...*tcell.EventKey) []*tcell.EventKey {
	var out []*tcell.EventKey
	for _, r := range typed {
		out = append(out, runeKey(r))
	}
	return append(out, more...)
}

func TestGroupKeys(t *testing.T) {
	s := rowsSnap(5, true)
	s.groups = []ledger.Group{{Key: "gpt-4.1"}, {Key: "claude-sonnet-4-5"}, {Key: ""}}
	v := press(testView(), s, runeKey('g'))
	if v.mode != modeGroups || v.q.group != ledger.ByModel {
		t.Fatalf("mode %d group %q", v.mode, v.q.group)
	}
	v = press(v, s, runeKey('j'), key(tcell.KeyEnter))
	if v.mode != modeList || v.q.group != "" || v.q.filter.Model != "claude-sonnet-4-5" {
		t.Fatalf("drill: mode %d group %q filter %+v", v.mode, v.q.group, v.q.filter)
	}
	// The unknown group cannot be a filter: Enter does nothing.
	v = press(testView(), s, runeKey('g'), key(tcell.KeyEnd), key(tcell.KeyEnter))
	if v.mode != modeGroups || v.gsel != 2 {
		t.Fatalf("unknown group: mode %d gsel %d", v.mode, v.gsel)
	}
	// A day becomes the window.
	s.groups = []ledger.Group{{Key: "2026-11-03"}}
	v = testView()
	v.q.group, v.mode = ledger.ByDay, modeGroups
	v = press(v, s, key(tcell.KeyEnter))
	if v.q.window != windowDate || v.q.date.Day() != 3 || v.mode != modeList {
		t.Fatalf("day: window %v date %v", v.q.window, v.q.date)
	}
	if v = press(v, s, runeKey('c')); v.q.window != WindowDay {
		t.Fatalf("c after a day: window %v", v.q.window)
	}
	// Esc leaves the grouped view for the list.
	v = press(testView(), s, runeKey('g'), key(tcell.KeyEscape))
	if v.mode != modeList || v.q.group != "" || v.quit {
		t.Fatalf("esc: mode %d group %q quit %v", v.mode, v.q.group, v.quit)
	}
}

func TestHandleMouse(t *testing.T) {
	s := rowsSnap(30, true)
	v := testView()
	v = handleMouse(v, tcell.NewEventMouse(5, 10, tcell.WheelDown, 0), s)
	if v.sel != 1 {
		t.Fatalf("wheel: sel %d", v.sel)
	}
	// Row y=9 is the first call (the header band's 3 lines and 5 of
	// chart, then the titles).
	v = handleMouse(v, tcell.NewEventMouse(5, 13, tcell.Button1, 0), s)
	if v.sel != 4 || v.mode != modeList {
		t.Fatalf("click: sel %d", v.sel)
	}
	v = handleMouse(v, tcell.NewEventMouse(5, 13, tcell.Button1, 0), s)
	if v.mode != modeDetail || v.detail.Seq != s.rows[4].Seq {
		t.Fatalf("second click: mode %d", v.mode)
	}
	v = handleMouse(v, tcell.NewEventMouse(5, 8, tcell.WheelDown, 0), s)
	if v.detailScroll != 1 {
		t.Fatalf("wheel in detail: scroll %d", v.detailScroll)
	}
}

// TestApplySnapshot checks that new data keeps the view on its call.
func TestApplySnapshot(t *testing.T) {
	old := rowsSnap(50, true)
	v := press(testView(), old, key(tcell.KeyDown), key(tcell.KeyDown), key(tcell.KeyDown))
	// Three calls arrive on top.
	s := rowsSnap(53, true)
	s.gen = old.gen + 1
	nv := applySnapshot(v, old, s)
	if nv.sel != 6 || nv.selSeq != v.selSeq || nv.top != 3 {
		t.Errorf("not following: sel %d top %d (was %d, %d)", nv.sel, nv.top, v.sel, v.top)
	}
	// Following: the first row stays selected.
	f := applySnapshot(testView(), old, s)
	if f.sel != 0 || f.selSeq != 53 {
		t.Errorf("following: sel %d seq %d", f.sel, f.selSeq)
	}
	// An answer to an older query changes nothing.
	stale := *s
	stale.qgen = 0
	if got := applySnapshot(v, old, &stale); got.sel != v.sel || got.top != v.top || got.selSeq != v.selSeq {
		t.Error("stale snapshot moved the view")
	}
	// Waiting for the end: the last row once it is there.
	w := v
	w.toEnd, w.follow = true, false
	if got := applySnapshot(w, old, s); got.sel != 52 || got.toEnd {
		t.Errorf("to end: sel %d", got.sel)
	}
}

func TestPageRequests(t *testing.T) {
	s := rowsSnap(100, false)
	v := testView()
	if got := pageRequests(v, s); got.older != 0 {
		t.Error("asked for older rows at the top")
	}
	v = press(v, s, key(tcell.KeyEnd))
	v.toEnd = false
	v = v.moveTo(60, s)
	if got := pageRequests(v, s); got.older != s.gen {
		t.Errorf("near the end: older %d", got.older)
	}
	s.atStart = false
	v = v.moveTo(10, s)
	if got := pageRequests(v, s); got.newer != s.gen {
		t.Errorf("near the start of a window: newer %d", got.newer)
	}
}

// TestEscGoesBack: Esc leaves a group's calls for the groups (as they
// were), the details for the list, and quits only from the top view.
func TestEscGoesBack(t *testing.T) {
	s := rowsSnap(5, true)
	s.groups = []ledger.Group{{Key: "gpt-4.1"}, {Key: "gpt-4.1-mini"}, {Key: "claude"}}
	esc := key(tcell.KeyEscape)
	v := press(testView(), s, runeKey('g'), key(tcell.KeyDown), key(tcell.KeyEnter))
	if v.mode != modeList || v.q.filter.Model != "gpt-4.1-mini" {
		t.Fatalf("drill down: mode %d filter %+v", v.mode, v.q.filter)
	}
	v = press(v, s, key(tcell.KeyEnter)) // a call's details
	if v.mode != modeDetail {
		t.Fatalf("details: mode %d", v.mode)
	}
	v = press(v, s, esc)
	if v.mode != modeList || v.quit || v.q.filter.Model != "gpt-4.1-mini" {
		t.Fatalf("esc from details: mode %d quit %v", v.mode, v.quit)
	}
	v = press(v, s, esc)
	if v.mode != modeGroups || v.q.group != ledger.ByModel || v.q.filter.Model != "" || v.gsel != 1 || v.quit {
		t.Fatalf("esc from a group's calls: mode %d group %q filter %+v gsel %d quit %v", v.mode, v.q.group, v.q.filter, v.gsel, v.quit)
	}
	v = press(v, s, esc)
	if v.mode != modeList || v.q.group != "" || v.quit {
		t.Fatalf("esc from the groups: mode %d group %q quit %v", v.mode, v.q.group, v.quit)
	}
	if v = press(v, s, esc); !v.quit {
		t.Fatal("esc on the top view does not quit")
	}
	if v := press(testView(), s, runeKey('q')); !v.quit {
		t.Fatal("q does not quit")
	}
}
