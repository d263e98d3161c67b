package ui

import (
	"fmt"
	"strings"

	"github.com/gdamore/tcell/v2"
)

// Theme is the dashboard's look: one style per role. The built-in themes
// are those the Rust Conduit's users know (default, qbasic, gorillas,
// nibbles) plus mono, which uses attributes only and is what NO_COLOR
// selects.
type Theme struct {
	Name string

	Base        tcell.Style // the background and plain text
	Title       tcell.Style // the top bar
	TitleAccent tcell.Style // "Conduit" in the top bar
	Label       tcell.Style // header labels and detail field names
	Value       tcell.Style // header figures
	TableHeader tcell.Style // column titles
	Selected    tcell.Style // the selected row
	Muted       tcell.Style // unknown values, hints
	Status      tcell.Style // the bottom bar
	StatusKey   tcell.Style // key names in the bottom bar
	Error       tcell.Style // failed calls
	Warn        tcell.Style // incomplete and cancelled calls
	Unpriced    tcell.Style // calls with usage but no known price
	Badge       tcell.Style // the "N new" badge
	Bar         tcell.Style // in-cell data bars (drawn as the cells' background)
	Chart       tcell.Style // the spend chart and the grouped view's bars
	// A budget's gauge: under its first warning, past it, at its limit.
	GaugeOK, GaugeWarn, GaugeOver tcell.Style
	Prompt                        tcell.Style // the filter prompt
	Overlay                       tcell.Style // the help box

	JSONKey, JSONString, JSONNumber, JSONLiteral, JSONPunct tcell.Style

	// BadgeFormat renders the new-calls badge; %s is the count.
	BadgeFormat string
	// Decoration is a small animation in the top bar: "banana" (a
	// banana thrown to and fro), "snake" (a snake running round a loop)
	// or "" for none.
	Decoration string
}

// ThemeNames lists the built-in themes, in the order T cycles them.
func ThemeNames() []string { return []string{"default", "qbasic", "gorillas", "nibbles", "mono"} }

// LookupTheme returns the named built-in theme (case-insensitive). With
// noColor set (NO_COLOR in the environment) it returns the mono theme
// whatever the name, as long as the name is valid. The Theme is the
// caller's.
func LookupTheme(name string, noColor bool) (*Theme, error) {
	var th *Theme
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "default":
		th = defaultTheme()
	case "qbasic":
		th = qbasicTheme()
	case "gorillas":
		th = gorillasTheme()
	case "nibbles":
		th = nibblesTheme()
	case "mono":
		th = monoTheme()
	default:
		return nil, fmt.Errorf("unknown theme %q: want one of %s", name, strings.Join(ThemeNames(), ", "))
	}
	if noColor {
		return monoTheme(), nil
	}
	return th, nil
}

var plain = tcell.StyleDefault

func defaultTheme() *Theme {
	return &Theme{
		Name:        "default",
		Base:        plain,
		Title:       plain.Bold(true),
		TitleAccent: plain.Foreground(tcell.ColorTeal).Bold(true),
		Label:       plain.Foreground(tcell.ColorTeal),
		Value:       plain.Bold(true),
		TableHeader: plain.Foreground(tcell.ColorTeal).Bold(true),
		Selected:    plain.Reverse(true),
		Muted:       plain.Foreground(tcell.ColorGray),
		Status:      plain.Foreground(tcell.ColorGray),
		StatusKey:   plain.Foreground(tcell.ColorTeal),
		Error:       plain.Foreground(tcell.ColorRed),
		Warn:        plain.Foreground(tcell.ColorOlive),
		Unpriced:    plain.Foreground(tcell.ColorFuchsia),
		Badge:       plain.Foreground(tcell.ColorYellow).Bold(true),
		Bar:         plain.Background(tcell.Color24),
		Chart:       plain.Foreground(tcell.ColorTeal),
		GaugeOK:     plain.Foreground(tcell.ColorGreen),
		GaugeWarn:   plain.Foreground(tcell.Color214),
		GaugeOver:   plain.Foreground(tcell.ColorRed).Bold(true),
		Prompt:      plain.Foreground(tcell.ColorYellow),
		Overlay:     plain.Background(tcell.Color236).Foreground(tcell.ColorWhite),
		JSONKey:     plain.Foreground(tcell.ColorAqua),
		JSONString:  plain.Foreground(tcell.ColorGreen),
		JSONNumber:  plain.Foreground(tcell.ColorOlive),
		JSONLiteral: plain.Foreground(tcell.ColorPurple),
		JSONPunct:   plain.Foreground(tcell.ColorGray),
		BadgeFormat: "↑ %s new (press f) ↑",
	}
}

// qbasicTheme is the QBasic IDE: bright text on blue, a grey menu bar and
// a cyan status bar.
func qbasicTheme() *Theme {
	bg := tcell.NewRGBColor(0x00, 0x00, 0xa8)
	fg := tcell.NewRGBColor(0xaa, 0xaa, 0xaa)
	cyan := tcell.NewRGBColor(0x00, 0xa8, 0xa8)
	base := plain.Background(bg).Foreground(fg)
	return &Theme{
		Name:        "qbasic",
		Base:        base,
		Title:       plain.Background(fg).Foreground(tcell.ColorBlack),
		TitleAccent: plain.Background(fg).Foreground(tcell.ColorBlack).Bold(true),
		Label:       base.Foreground(tcell.ColorWhite).Bold(true),
		Value:       base.Foreground(tcell.ColorWhite),
		TableHeader: base.Foreground(tcell.ColorYellow).Bold(true),
		Selected:    plain.Background(fg).Foreground(bg).Bold(true),
		Muted:       base.Foreground(tcell.NewRGBColor(0x55, 0x55, 0xff)),
		Status:      plain.Background(cyan).Foreground(tcell.ColorBlack),
		StatusKey:   plain.Background(cyan).Foreground(tcell.ColorWhite).Bold(true),
		Error:       base.Foreground(tcell.NewRGBColor(0xff, 0x55, 0x55)),
		Warn:        base.Foreground(tcell.ColorYellow),
		Unpriced:    base.Foreground(tcell.NewRGBColor(0xff, 0x55, 0xff)),
		Badge:       base.Foreground(tcell.ColorYellow).Bold(true),
		Bar:         plain.Background(cyan).Foreground(tcell.ColorBlack),
		Chart:       base.Foreground(tcell.ColorAqua),
		GaugeOK:     base.Foreground(tcell.ColorLime),
		GaugeWarn:   base.Foreground(tcell.ColorYellow),
		GaugeOver:   base.Foreground(tcell.NewRGBColor(0xff, 0x55, 0x55)).Bold(true),
		Prompt:      base.Foreground(tcell.ColorWhite).Bold(true),
		Overlay:     plain.Background(fg).Foreground(tcell.ColorBlack),
		JSONKey:     base.Foreground(tcell.ColorAqua),
		JSONString:  base.Foreground(tcell.ColorLime),
		JSONNumber:  base.Foreground(tcell.ColorYellow),
		JSONLiteral: base.Foreground(tcell.ColorFuchsia),
		JSONPunct:   base,
		BadgeFormat: "↑ %s new (press f) ↑",
	}
}

// gorillasTheme is GORILLAS.BAS: a dark slate sky, banana-yellow accents,
// and a banana flying across the top bar.
func gorillasTheme() *Theme {
	bg := tcell.NewRGBColor(0x22, 0x2f, 0x3e)
	fg := tcell.NewRGBColor(0xaa, 0xaa, 0xaa)
	menu := tcell.NewRGBColor(0x3b, 0x3b, 0x98)
	banana := tcell.NewRGBColor(0xff, 0xd3, 0x2a)
	base := plain.Background(bg).Foreground(fg)
	return &Theme{
		Name:        "gorillas",
		Base:        base,
		Title:       plain.Background(menu).Foreground(tcell.ColorWhite),
		TitleAccent: plain.Background(menu).Foreground(banana).Bold(true),
		Label:       base.Foreground(tcell.ColorYellow).Bold(true),
		Value:       base.Foreground(tcell.ColorWhite),
		TableHeader: base.Foreground(tcell.ColorYellow).Bold(true),
		Selected:    plain.Background(banana).Foreground(tcell.ColorBlack).Bold(true),
		Muted:       base.Foreground(tcell.NewRGBColor(0x70, 0x7a, 0x88)),
		Status:      plain.Background(tcell.ColorOlive).Foreground(tcell.ColorBlack),
		StatusKey:   plain.Background(tcell.ColorOlive).Foreground(tcell.ColorWhite).Bold(true),
		Error:       base.Foreground(tcell.NewRGBColor(0xff, 0x60, 0x60)),
		Warn:        base.Foreground(tcell.NewRGBColor(0xff, 0xa0, 0x40)),
		Unpriced:    base.Foreground(tcell.NewRGBColor(0xff, 0x80, 0xff)),
		Badge:       base.Foreground(banana).Bold(true),
		Bar:         plain.Background(menu).Foreground(tcell.ColorWhite),
		Chart:       base.Foreground(banana),
		GaugeOK:     base.Foreground(tcell.NewRGBColor(0x60, 0xd0, 0x60)),
		GaugeWarn:   base.Foreground(tcell.NewRGBColor(0xff, 0xa0, 0x40)),
		GaugeOver:   base.Foreground(tcell.NewRGBColor(0xff, 0x60, 0x60)).Bold(true),
		Prompt:      base.Foreground(banana).Bold(true),
		Overlay:     plain.Background(menu).Foreground(tcell.ColorWhite),
		JSONKey:     base.Foreground(tcell.ColorAqua),
		JSONString:  base.Foreground(tcell.ColorYellow),
		JSONNumber:  base.Foreground(tcell.ColorOlive),
		JSONLiteral: base.Foreground(tcell.ColorFuchsia),
		JSONPunct:   base.Foreground(tcell.ColorWhite),
		BadgeFormat: ") %s new (press f) )",
		Decoration:  "banana",
	}
}

// nibblesTheme is NIBBLES.BAS: a black field, a green snake and its
// pellets.
func nibblesTheme() *Theme {
	base := plain.Background(tcell.ColorBlack).Foreground(tcell.ColorSilver)
	return &Theme{
		Name:        "nibbles",
		Base:        base,
		Title:       plain.Background(tcell.ColorSilver).Foreground(tcell.ColorBlack),
		TitleAccent: plain.Background(tcell.ColorSilver).Foreground(tcell.ColorGreen).Bold(true),
		Label:       base.Foreground(tcell.ColorLime).Bold(true),
		Value:       base.Foreground(tcell.ColorWhite),
		TableHeader: base.Foreground(tcell.ColorLime).Bold(true),
		Selected:    plain.Background(tcell.ColorGreen).Foreground(tcell.ColorBlack).Bold(true),
		Muted:       base.Foreground(tcell.ColorGray),
		Status:      plain.Background(tcell.ColorGreen).Foreground(tcell.ColorBlack),
		StatusKey:   plain.Background(tcell.ColorGreen).Foreground(tcell.ColorWhite).Bold(true),
		Error:       base.Foreground(tcell.ColorRed),
		Warn:        base.Foreground(tcell.ColorYellow),
		Unpriced:    base.Foreground(tcell.ColorFuchsia),
		Badge:       base.Foreground(tcell.ColorLime).Bold(true),
		Bar:         plain.Background(tcell.NewRGBColor(0x0e, 0x40, 0x05)).Foreground(tcell.ColorWhite),
		Chart:       base.Foreground(tcell.ColorLime),
		GaugeOK:     base.Foreground(tcell.ColorLime),
		GaugeWarn:   base.Foreground(tcell.ColorYellow),
		GaugeOver:   base.Foreground(tcell.ColorRed).Bold(true),
		Prompt:      base.Foreground(tcell.ColorLime).Bold(true),
		Overlay:     plain.Background(tcell.ColorSilver).Foreground(tcell.ColorBlack),
		JSONKey:     base.Foreground(tcell.ColorLime),
		JSONString:  base.Foreground(tcell.ColorGreen),
		JSONNumber:  base.Foreground(tcell.ColorYellow),
		JSONLiteral: base.Foreground(tcell.ColorAqua),
		JSONPunct:   base.Foreground(tcell.ColorGray),
		BadgeFormat: "~ %s new (press f) ~",
		Decoration:  "snake",
	}
}

// monoTheme uses no colour at all, only attributes (NO_COLOR).
func monoTheme() *Theme {
	return &Theme{
		Name:        "mono",
		Base:        plain,
		Title:       plain.Reverse(true),
		TitleAccent: plain.Reverse(true).Bold(true),
		Label:       plain.Bold(true),
		Value:       plain,
		TableHeader: plain.Bold(true).Underline(true),
		Selected:    plain.Reverse(true),
		Muted:       plain.Dim(true),
		Status:      plain.Reverse(true),
		StatusKey:   plain.Reverse(true).Bold(true),
		Error:       plain.Bold(true),
		Warn:        plain.Underline(true),
		Unpriced:    plain.Italic(true),
		Badge:       plain.Bold(true).Reverse(true),
		Bar:         plain.Underline(true),
		Chart:       plain,
		GaugeOK:     plain,
		GaugeWarn:   plain.Underline(true),
		GaugeOver:   plain.Bold(true).Reverse(true),
		Prompt:      plain.Bold(true),
		Overlay:     plain.Reverse(true),
		JSONKey:     plain.Bold(true),
		JSONString:  plain,
		JSONNumber:  plain,
		JSONLiteral: plain.Italic(true),
		JSONPunct:   plain.Dim(true),
		BadgeFormat: "↑ %s new (press f) ↑",
	}
}

// decorationFrame returns the top bar's animation at tick (about four a
// second), or "" for a theme without one.
func decorationFrame(kind string, tick int) string {
	switch kind {
	case "banana":
		// A banana thrown back and forth across nine cells.
		const w = 9
		p := tick % (2 * (w - 1))
		cells := []rune(strings.Repeat(" ", w))
		if p < w-1 {
			cells[p] = ')'
		} else {
			cells[2*(w-1)-p] = '('
		}
		return string(cells)
	case "snake":
		// A snake of four segments running round a 2×6 loop of half
		// cells: along the top left to right, back along the bottom.
		const w, n = 6, 4
		var top, bottom [w]bool
		for i := range n {
			p := ((tick-i)%(2*w) + 2*w) % (2 * w)
			if p < w {
				top[p] = true
			} else {
				bottom[2*w-1-p] = true
			}
		}
		var b strings.Builder
		for i := range w {
			switch {
			case top[i] && bottom[i]:
				b.WriteRune('█')
			case top[i]:
				b.WriteRune('▀')
			case bottom[i]:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		return b.String()
	}
	return ""
}
