package sse

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// ev is a copied Event for comparisons.
type ev struct {
	Type, Data, ID string
	HasID          bool
	Retry          int64
	HasRetry       bool
	Oversize       bool
	Unterminated   bool
	Raw            string
}

func (e ev) String() string {
	return fmt.Sprintf("{type=%q data=%q id=%q/%v retry=%d/%v over=%v unterm=%v raw=%q}",
		e.Type, e.Data, e.ID, e.HasID, e.Retry, e.HasRetry, e.Oversize, e.Unterminated, e.Raw)
}

func copyEvent(e *Event) ev {
	return ev{
		Type: string(e.Type), Data: string(e.Data), ID: string(e.ID), HasID: e.HasID,
		Retry: e.Retry, HasRetry: e.HasRetry, Oversize: e.Oversize, Unterminated: e.Unterminated,
		Raw: string(e.Raw),
	}
}

// run feeds input to a fresh scanner in the given pieces and returns the
// events and the concatenation of all raw bytes handed out (Event.Raw and
// RawOverflow, in callback order).
func run(opts Options, pieces [][]byte) (events []ev, raw string) {
	var rawOut strings.Builder
	opts.RawOverflow = func(p []byte) { rawOut.Write(p) }
	s := NewScanner(func(e *Event) {
		events = append(events, copyEvent(e))
		rawOut.Write(e.Raw)
	}, opts)
	for _, p := range pieces {
		n, err := s.Write(p)
		if n != len(p) || err != nil {
			panic(fmt.Sprintf("Write returned %d, %v for %d bytes", n, err, len(p)))
		}
	}
	if err := s.Close(); err != nil {
		panic(err)
	}
	return events, rawOut.String()
}

// splitEvery cuts b into pieces of n bytes.
func splitEvery(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return append(out, b)
}

// splitRandom cuts b at random points.
func splitRandom(b []byte, r *rand.Rand) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := 1 + r.IntN(len(b))
		if r.IntN(2) == 0 && n > 8 {
			n = 1 + r.IntN(8)
		}
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out
}

// splits returns the ways every test stream is fed: whole, in 1-byte and
// 3-byte pieces, and at random points.
func splits(b []byte) map[string][][]byte {
	m := map[string][][]byte{
		"whole":  {b},
		"1-byte": splitEvery(b, 1),
		"3-byte": splitEvery(b, 3),
	}
	for seed := uint64(1); seed <= 4; seed++ {
		m[fmt.Sprintf("random-%d", seed)] = splitRandom(b, rand.New(rand.NewPCG(seed, 99)))
	}
	return m
}

func TestScanner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		opts  Options
		want  []ev
		noRaw bool // skip the Raw comparison in want (KeepRaw off)
	}{
		{
			name: "lf",
			in:   "data: hello\n\n",
			want: []ev{{Data: "hello", Raw: "data: hello\n\n"}},
		},
		{
			name: "crlf",
			in:   "event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n",
			want: []ev{
				{Type: "a", Data: "1", Raw: "event: a\r\ndata: 1\r\n\r"},
				// The LF of a blank line's CRLF starts the next block's raw
				// bytes: the event is dispatched at the CR.
				{Data: "2", Raw: "\ndata: 2\r\n\r"},
			},
		},
		{
			name: "lone cr",
			in:   "data: 1\r\rdata: 2\r\r",
			want: []ev{{Data: "1", Raw: "data: 1\r\r"}, {Data: "2", Raw: "data: 2\r\r"}},
		},
		{
			name: "mixed line ends",
			in:   "data: a\rdata: b\ndata: c\r\n\n",
			want: []ev{{Data: "a\nb\nc", Raw: "data: a\rdata: b\ndata: c\r\n\n"}},
		},
		{
			name: "cr then lf is one line end, cr cr is a blank line",
			in:   "data: a\r\n\r\r\ndata: b\n\n",
			want: []ev{{Data: "a", Raw: "data: a\r\n\r"}, {Data: "b", Raw: "\ndata: b\n\n"}},
		},
		{
			name: "bom stripped at start",
			in:   "\xEF\xBB\xBFdata: x\n\n",
			want: []ev{{Data: "x", Raw: "\xEF\xBB\xBFdata: x\n\n"}},
		},
		{
			name: "bom only at start",
			in:   "\xEF\xBB\xBFdata: x\n\n\xEF\xBB\xBFdata: y\n\ndata: z\n\n",
			want: []ev{
				{Data: "x", Raw: "\xEF\xBB\xBFdata: x\n\n"},
				{Data: "z", Raw: "data: z\n\n"},
			},
		},
		{
			name: "partial bom is content",
			in:   "\xEF\xBBdata: x\n\ndata: y\n\n",
			want: []ev{{Data: "y", Raw: "data: y\n\n"}},
		},
		{
			name: "comments ignored",
			in:   ": OPENROUTER PROCESSING\n\n: ping\ndata: x\n: mid\n\n",
			want: []ev{{Data: "x", Raw: ": ping\ndata: x\n: mid\n\n"}},
		},
		{
			name: "no space and two spaces after colon",
			in:   "data:a\ndata:  b\n\n",
			want: []ev{{Data: "a\n b", Raw: "data:a\ndata:  b\n\n"}},
		},
		{
			name: "colon in value",
			in:   "data: {\"a\":\"b:c\"}\n\n",
			want: []ev{{Data: `{"a":"b:c"}`, Raw: "data: {\"a\":\"b:c\"}\n\n"}},
		},
		{
			name: "line without colon is a field with empty value",
			in:   "data\n\ndata\ndata\n\n",
			want: []ev{{Data: "", Raw: "data\n\n"}, {Data: "\n", Raw: "data\ndata\n\n"}},
		},
		{
			name: "empty data value dispatches",
			in:   "data:\n\n",
			want: []ev{{Data: "", Raw: "data:\n\n"}},
		},
		{
			name: "nothing dispatched without data, type reset",
			in:   "event: foo\n\ndata: x\n\n\n\n\n",
			want: []ev{{Data: "x", Raw: "data: x\n\n"}},
		},
		{
			name: "type is per event",
			in:   "event: a\ndata: 1\n\ndata: 2\n\nevent: a\nevent: b\ndata: 3\n\nevent\ndata: 4\n\n",
			want: []ev{
				{Type: "a", Data: "1", Raw: "event: a\ndata: 1\n\n"},
				{Data: "2", Raw: "data: 2\n\n"},
				{Type: "b", Data: "3", Raw: "event: a\nevent: b\ndata: 3\n\n"},
				{Data: "4", Raw: "event\ndata: 4\n\n"},
			},
		},
		{
			name: "id and nul",
			in:   "id: 7\ndata: a\n\nid: 8\nid: 9\x00\ndata: b\n\nid\ndata: c\n\n",
			want: []ev{
				{ID: "7", HasID: true, Data: "a", Raw: "id: 7\ndata: a\n\n"},
				{ID: "8", HasID: true, Data: "b", Raw: "id: 8\nid: 9\x00\ndata: b\n\n"},
				{ID: "", HasID: true, Data: "c", Raw: "id\ndata: c\n\n"},
			},
		},
		{
			name: "retry digits only",
			in: "retry: 3000\ndata: a\n\nretry: 12a\ndata: b\n\nretry:\ndata: c\n\n" +
				"retry: 99999999999999999999\ndata: d\n\nretry: 5\nretry: x\ndata: e\n\n",
			want: []ev{
				{Retry: 3000, HasRetry: true, Data: "a", Raw: "retry: 3000\ndata: a\n\n"},
				{Data: "b", Raw: "retry: 12a\ndata: b\n\n"},
				{Data: "c", Raw: "retry:\ndata: c\n\n"},
				{Data: "d", Raw: "retry: 99999999999999999999\ndata: d\n\n"},
				{Retry: 5, HasRetry: true, Data: "e", Raw: "retry: 5\nretry: x\ndata: e\n\n"},
			},
		},
		{
			name: "unknown and case-variant fields ignored",
			in:   "Data: no\nDATA: no\ndatas: no\nfoo: bar\nverylongfieldname: x\ndata: yes\n\n",
			want: []ev{{Data: "yes", Raw: "Data: no\nDATA: no\ndatas: no\nfoo: bar\nverylongfieldname: x\ndata: yes\n\n"}},
		},
		{
			name: "unterminated last event, no line end",
			in:   "data: a\n\ndata: [DONE]",
			want: []ev{
				{Data: "a", Raw: "data: a\n\n"},
				{Data: "[DONE]", Unterminated: true, Raw: "data: [DONE]"},
			},
		},
		{
			name: "unterminated last event, line end only",
			in:   "event: x\ndata: b\r\n",
			want: []ev{{Type: "x", Data: "b", Unterminated: true, Raw: "event: x\ndata: b\r\n"}},
		},
		{
			name: "trailing comment at eof is raw only",
			in:   "data: a\n\n: bye",
			want: []ev{{Data: "a", Raw: "data: a\n\n"}},
		},
		{
			name: "multibyte utf-8 kept whole",
			in:   "data: héllo → 世界 🎉\n\n",
			want: []ev{{Data: "héllo → 世界 🎉", Raw: "data: héllo → 世界 🎉\n\n"}},
		},
		{
			name: "oversize keeps data tail",
			opts: Options{MaxEventSize: 40, TailSize: 10},
			in:   "data: 0123456789\ndata: abcdefghijklmnopqrstuvwxyz\n\ndata: small\n\n",
			want: []ev{
				{Data: "qrstuvwxyz", Oversize: true},
				{Data: "small", Raw: "data: small\n\n"},
			},
		},
		{
			name: "oversize tail spans data lines",
			opts: Options{MaxEventSize: 16, TailSize: 12},
			in:   "data: aaaaaaaaaaaaaaaaaaaa\ndata: bbbb\ndata: cc\n\n",
			want: []ev{{Data: "aaaa\nbbbb\ncc", Oversize: true}},
		},
		{
			name: "oversize comment block dispatches nothing",
			opts: Options{MaxEventSize: 12, TailSize: 4},
			in:   ": a very long comment that goes on\n\ndata: ok\n\n",
			want: []ev{{Data: "ok", Raw: "data: ok\n\n"}},
		},
		{
			// However the line that takes the event over is cut, its type
			// and id keep their first TailSize bytes.
			name: "oversize keeps the head of a type and id",
			opts: Options{MaxEventSize: 24, TailSize: 6},
			in:   "event: long-type-past-the-cap\ndata: 1\n\nid: an-id-past-the-cap-of-it\ndata: 2\n\n",
			want: []ev{{Type: "long-t", Data: "1", Oversize: true}, {ID: "an-id-", HasID: true, Data: "2", Oversize: true}},
		},
		{
			name: "oversize unterminated",
			opts: Options{MaxEventSize: 8, TailSize: 4},
			in:   "data: 123456789",
			want: []ev{{Data: "6789", Oversize: true, Unterminated: true}},
		},
		{
			name: "openai chunk and done",
			in: "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9}}\n\n" +
				"data: [DONE]\n\n",
			want: []ev{
				{Data: `{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":9}}`,
					Raw: "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9}}\n\n"},
				{Data: "[DONE]", Raw: "data: [DONE]\n\n"},
			},
		},
		{
			name:  "raw not kept without KeepRaw",
			in:    "data: a\n\n",
			want:  []ev{{Data: "a"}},
			noRaw: true,
		},
	}
	for _, tt := range tests {
		for how, pieces := range splits([]byte(tt.in)) {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				opts := tt.opts
				opts.KeepRaw = !tt.noRaw
				got, raw := run(opts, pieces)
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("events:\n got %v\nwant %v", got, tt.want)
				}
				if !tt.noRaw && raw != tt.in {
					t.Errorf("raw bytes handed out:\n got %q\nwant %q", raw, tt.in)
				}
			})
		}
	}
}

// TestScannerReuse guards Reset and Close: a scanner reads a second stream
// as if new, and a second Close delivers nothing.
func TestScannerReuse(t *testing.T) {
	t.Parallel()
	var got []ev
	s := NewScanner(func(e *Event) { got = append(got, copyEvent(e)) }, Options{})
	s.Write([]byte("\xEF\xBB\xBFevent: a\ndata: 1"))
	s.Close()
	s.Close()
	s.Write([]byte("\xEF\xBB\xBFdata: 2\r"))
	s.Reset()
	s.Write([]byte("\ndata: 3\n\n"))
	want := []ev{
		{Type: "a", Data: "1", Unterminated: true},
		// After Reset the LF is a blank line of the new stream, not the end
		// of the CR: nothing to dispatch.
		{Data: "3"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// TestScannerNilCallback guards that a nil callback is allowed.
func TestScannerNilCallback(t *testing.T) {
	t.Parallel()
	s := NewScanner(nil, Options{KeepRaw: true})
	s.Write([]byte("data: a\n\ndata: b"))
	s.Close()
}

// TestScannerDoesNotRetain guards that Write never keeps the caller's slice:
// overwriting it after Write does not change the event.
func TestScannerDoesNotRetain(t *testing.T) {
	t.Parallel()
	var got []ev
	s := NewScanner(func(e *Event) { got = append(got, copyEvent(e)) }, Options{KeepRaw: true})
	buf := []byte("event: ab\nid: 12\ndata: xy")
	s.Write(buf)
	for i := range buf {
		buf[i] = '!'
	}
	s.Write([]byte("\n\n"))
	want := []ev{{Type: "ab", ID: "12", HasID: true, Data: "xy", Raw: "event: ab\nid: 12\ndata: xy\n\n"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// TestScannerMemoryBounded guards that a huge event does not grow the data
// buffer past MaxEventSize (plus the tail) and that the data tail is exact.
func TestScannerMemoryBounded(t *testing.T) {
	t.Parallel()
	const maxSize, tail = 1 << 16, 1 << 10
	var got []ev
	var overflow int
	s := NewScanner(func(e *Event) { got = append(got, copyEvent(e)) },
		Options{MaxEventSize: maxSize, TailSize: tail, KeepRaw: true, RawOverflow: func(p []byte) { overflow += len(p) }})
	s.Write([]byte("event: response.completed\ndata: "))
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 256)
	total := 0
	for range 1024 { // 4 MiB of data in one line
		s.Write(chunk)
		total += len(chunk)
		if cap(s.data) > 2*maxSize || cap(s.raw) > 2*maxSize {
			t.Fatalf("buffers grew to data %d raw %d", cap(s.data), cap(s.raw))
		}
	}
	s.Write([]byte(`,"usage":{"input_tokens":5}}` + "\n\n"))
	if len(got) != 1 || !got[0].Oversize || got[0].Type != "response.completed" {
		t.Fatalf("got %v", got)
	}
	if !strings.HasSuffix(got[0].Data, `,"usage":{"input_tokens":5}}`) || len(got[0].Data) != tail {
		t.Errorf("tail %d bytes: %q", len(got[0].Data), got[0].Data[len(got[0].Data)-40:])
	}
	wantOverflow := len("event: response.completed\ndata: ") + total + len(`,"usage":{"input_tokens":5}}`+"\n\n")
	if overflow != wantOverflow {
		t.Errorf("overflow passed %d bytes, want %d", overflow, wantOverflow)
	}
}

// TestScannerMatchesReference compares the scanner with a plain, whole-input
// reading of the spec on the table inputs plus tricky extras.
func TestScannerMatchesReference(t *testing.T) {
	t.Parallel()
	inputs := []string{
		"data: a\r\n\r\ndata: b\r\r\ndata: c\n\r\n",
		"\r\n\r\n\n\n\r\r",
		":\n:\r\n\xEF\xBB\xBFdata\n\n",
		"id: a\x00b\ndata\n\nretry: 010\ndata: x",
		"data:  \n data: x\n\n",
	}
	for _, in := range inputs {
		got, _ := run(Options{}, [][]byte{[]byte(in)})
		want := reference([]byte(in))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %v\nwant %v", in, got, want)
		}
	}
}

// reference is an independent, deliberately simple reading of the WHATWG
// event-stream rules over a whole input (no size cap, no raw bytes).
func reference(in []byte) []ev {
	in = bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
	var lines []string
	var terminated []bool
	for len(in) > 0 {
		i := bytes.IndexAny(in, "\r\n")
		if i < 0 {
			lines = append(lines, string(in))
			terminated = append(terminated, false)
			break
		}
		lines = append(lines, string(in[:i]))
		terminated = append(terminated, true)
		if in[i] == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			i++
		}
		in = in[i+1:]
	}
	var out []ev
	var data strings.Builder
	var cur ev
	hasData := false
	for _, line := range lines {
		if line == "" {
			if hasData {
				cur.Data = strings.TrimSuffix(data.String(), "\n")
				out = append(out, cur)
			}
			data.Reset()
			cur, hasData = ev{}, false
			continue
		}
		if line[0] == ':' {
			continue
		}
		name, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch name {
		case "data":
			data.WriteString(value + "\n")
			hasData = true
		case "event":
			cur.Type = value
		case "id":
			if !strings.Contains(value, "\x00") {
				cur.ID, cur.HasID = value, true
			}
		case "retry":
			var n int64
			ok := value != ""
			for _, c := range []byte(value) {
				if c < '0' || c > '9' || n > (1<<63-1-9)/10 {
					ok = false
					break
				}
				n = n*10 + int64(c-'0')
			}
			if ok {
				cur.Retry, cur.HasRetry = n, true
			}
		}
	}
	if hasData {
		cur.Data = strings.TrimSuffix(data.String(), "\n")
		cur.Unterminated = true
		out = append(out, cur)
	}
	_ = terminated
	return out
}

// FuzzScanner checks that any input, cut anywhere, gives the same events as
// the whole input and as the reference reading, that the raw bytes handed
// out rebuild the input exactly, and that nothing panics.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		"data: hello\n\n", "event: a\r\ndata: 1\r\n\r\n", "data: 1\r\rdata: 2\r\r",
		"\xEF\xBB\xBFdata: x\n\n", ": c\ndata\nid: 1\x00\nretry: 5\n\n", "data: [DONE]",
		"\xEF\xBBdata: x\n\n", "data: a\r\n\r\r\ndata: b\n\n",
		"event:a\ndata:\ndata:  b\nevent:\ndata\nevent\n\n", "datax: 1\nevents: 2\ndat: 3\ndata:x\n\n",
		"event: long-type-past-the-cap-of-the-small-options\ndata: 1\n\ndata: 0123456789012345678901234567\n\n",
	} {
		f.Add([]byte(s), uint64(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		whole, rawWhole := run(Options{KeepRaw: true}, [][]byte{in})
		if rawWhole != string(in) {
			t.Fatalf("raw rebuild %q != input %q", rawWhole, in)
		}
		ref := reference(in)
		stripRaw := func(es []ev) []ev {
			out := make([]ev, len(es))
			for i, e := range es {
				e.Raw = ""
				out[i] = e
			}
			return out
		}
		if !reflect.DeepEqual(stripRaw(whole), ref) && !(len(whole) == 0 && len(ref) == 0) {
			t.Fatalf("scanner %v\nreference %v", whole, ref)
		}
		split, rawSplit := run(Options{KeepRaw: true}, splitRandom(in, rand.New(rand.NewPCG(seed, 7))))
		if !reflect.DeepEqual(split, whole) {
			t.Fatalf("split %v\nwhole %v", split, whole)
		}
		if rawSplit != string(in) {
			t.Fatalf("split raw rebuild %q != input %q", rawSplit, in)
		}
		bytewise, _ := run(Options{KeepRaw: true}, splitEvery(in, 1))
		if !reflect.DeepEqual(bytewise, whole) {
			t.Fatalf("1-byte %v\nwhole %v", bytewise, whole)
		}
		// A small cap: the same events whatever the split, raw still exact.
		small := Options{MaxEventSize: 24, TailSize: 6, KeepRaw: true}
		capWhole, capRaw := run(small, [][]byte{in})
		capSplit, _ := run(small, splitRandom(in, rand.New(rand.NewPCG(seed, 8))))
		if !reflect.DeepEqual(capSplit, capWhole) {
			t.Fatalf("capped split %v\nwhole %v", capSplit, capWhole)
		}
		if capRaw != string(in) {
			t.Fatalf("capped raw rebuild %q != input %q", capRaw, in)
		}
		for _, e := range capWhole {
			if len(e.Data) > 24 {
				t.Fatalf("capped event data %d bytes", len(e.Data))
			}
		}
		// Without raw bytes kept: the same events, raw aside.
		if plain, _ := run(Options{}, [][]byte{in}); !reflect.DeepEqual(plain, stripRaw(whole)) && !(len(plain) == 0 && len(whole) == 0) {
			t.Fatalf("without raw %v\nwith %v", plain, whole)
		}
		if plain, _ := run(Options{MaxEventSize: 24, TailSize: 6}, splitRandom(in, rand.New(rand.NewPCG(seed, 9)))); !reflect.DeepEqual(plain, stripRaw(capWhole)) && !(len(plain) == 0 && len(capWhole) == 0) {
			t.Fatalf("capped without raw %v\nwith %v", plain, capWhole)
		}
	})
}
