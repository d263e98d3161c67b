package parsers

import (
	"sync"

	"github.com/valyala/fastjson"
)

// idleParsers are fastjson parsers that finished work left for later work:
// meters take one for a response, the request helpers one per call. A
// parser's buffers grow to fit the documents it parsed, so one reused
// parses a small document without allocating, where a fresh one per
// response allocated most of a meter's garbage. It is a bounded free list
// rather than a sync.Pool, so that reuse (and so a meter's allocations)
// does not depend on the garbage collector or on the race detector's
// random pool drops.
var idleParsers struct {
	sync.Mutex
	list []*fastjson.Parser
}

// Bounds of idleParsers: how many parsers it keeps, and the largest
// document a parser may have parsed and still be kept (a parser holds a
// copy of its last document). At most ~3 MB stay idle.
const (
	maxIdleParsers = 64
	maxPooledDoc   = 16 << 10
)

func getParser() *fastjson.Parser {
	idleParsers.Lock()
	defer idleParsers.Unlock()
	if n := len(idleParsers.list); n > 0 {
		p := idleParsers.list[n-1]
		idleParsers.list = idleParsers.list[:n-1]
		return p
	}
	return new(fastjson.Parser)
}

// putParser gives p back once nothing it parsed is in use. largest is the
// largest document it parsed: a parser that parsed a larger one than
// maxPooledDoc is dropped, with the memory it holds.
func putParser(p *fastjson.Parser, largest int) {
	if largest > maxPooledDoc {
		return
	}
	idleParsers.Lock()
	defer idleParsers.Unlock()
	if len(idleParsers.list) < maxIdleParsers {
		idleParsers.list = append(idleParsers.list, p)
	}
}
