package parsers

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// Top-level members of a chunk that openAIFormat.object reads.
const (
	keyID              = "id"
	keyModel           = "model"
	keyUsage           = "usage"
	keyError           = "error"
	keyXGroq           = "x_groq"
	keyPromptEvalCount = "prompt_eval_count"
)

// chunkChangesNothing reports, without parsing, that object would change
// nothing for chunk b: no member it reads is present except
// a null usage or error and the id and model already held. Almost every
// chunk of a stream is such a content delta, and a full parse of each was
// most of a stream's metering cost. When it cannot tell, it returns false
// and the chunk is parsed, so the result never differs from a parse's
// (FuzzOpenAIFastPath compares the two).
//
// Every key is a string followed by a colon, so the colons are visited
// (one vectorized search each) and the string before each is matched
// against the members above. Colons inside strings are skipped: they are
// not right after an unescaped quote. A member that cannot be placed
// exactly sends the chunk to the parser: a \u escape anywhere (a key could
// spell a member that way), a key seen twice (it may be nested, with the
// top-level one different), any x_groq or prompt_eval_count, a usage that
// is an object, an error that is not null, an id or model string that
// differs from the one held or holds an escape.
func (f *openAIFormat) chunkChangesNothing(m *Meter, b []byte) bool {
	// The chunks of a stream repeat their first bytes (id, object,
	// created, model, …): colons already classified in the last such
	// chunk, from bytes this one repeats, need no second look.
	memo := &f.chunkMemo
	from, n, reach := 0, 0, -1 // reach: the last byte read to classify the colons so far
	var sawID, sawModel bool
	if memo.valid && bytes.Equal(memo.model, m.model) && bytes.Equal(memo.id, m.respID) {
		same := commonPrefix(b, memo.prev)
		for k := memo.n - 1; k >= 0; k-- {
			if mk := memo.marks[k]; int(mk.reach) < same {
				from, n, reach, sawID, sawModel = int(mk.next), k+1, int(mk.reach), mk.sawID, mk.sawModel
				break
			}
		}
		// The repeated bytes held no \u: only a new one can.
		if bytes.Contains(b[max(same-1, 0):], unicodeEscape) {
			return false
		}
	} else if bytes.Contains(b, unicodeEscape) {
		return false
	}
	keep := len(b) <= maxMemoChunk
	for i := from; ; {
		c := bytes.IndexByte(b[i:], ':')
		if c < 0 {
			break
		}
		c += i
		i = c + 1
		reach = max(reach, c)
		q := c - 1
		for q >= 0 && isSpace(b[q]) {
			q--
		}
		if q >= 1 && b[q] == '"' && !escapedQuote(b, q) {
			if key := memberBefore(b, q); key != "" {
				v := skipSpace(b, c+1)
				if v >= len(b) {
					return false
				}
				reach = max(reach, v)
				switch key {
				case keyUsage:
					if b[v] == '{' {
						return false
					}
				case keyError:
					if b[v] != 'n' {
						return false
					}
				case keyXGroq, keyPromptEvalCount:
					return false
				case keyID:
					r, ok := sameString(b, v, m.respID)
					if sawID || !ok {
						return false
					}
					sawID, reach = true, max(reach, r)
				case keyModel:
					r, ok := sameString(b, v, m.model)
					if sawModel || !ok {
						return false
					}
					sawModel, reach = true, max(reach, r)
				}
			}
		}
		if keep && n < len(memo.marks) {
			memo.marks[n] = chunkMark{next: int32(i), reach: int32(reach), sawID: sawID, sawModel: sawModel}
			n++
		}
	}
	if keep {
		memo.prev = append(memo.prev[:0], b...)
		memo.model = append(memo.model[:0], m.model...)
		memo.id = append(memo.id[:0], m.respID...)
		memo.n, memo.valid = n, true
	} else {
		memo.valid = false
	}
	return true
}

// chunkMemo is the colon scan of the last chunk found to change nothing:
// for its first colons, where the scan resumes after each and the last
// byte it had read to get there. A new chunk whose first bytes are the
// same up to past that byte resumes there, in the same state.
type chunkMemo struct {
	valid     bool
	prev      []byte // the chunk
	model, id []byte // the model and id held when it was scanned
	marks     [16]chunkMark
	n         int
}

// chunkMark's offsets are int32: only chunks up to maxMemoChunk are kept.
type chunkMark struct {
	next            int32 // where the scan resumes after this colon
	reach           int32 // the last byte read to classify it and those before
	sawID, sawModel bool
}

// maxMemoChunk bounds the chunk a meter keeps a copy of for chunkMemo.
const maxMemoChunk = 4 << 10

// commonPrefix returns how many leading bytes a and b share, comparing
// eight at a time.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

var unicodeEscape = []byte(`\u`)

// memberBefore returns which of the members openAIFormat.object reads the key
// closed by the quote at b[q] is, or "". The key's opening quote is the
// first unescaped quote before q (a key holds no other), so the candidate
// lengths are tried shortest first and the first quote found decides.
func memberBefore(b []byte, q int) string {
	for _, n := range [...]int{len(keyID), len(keyModel), len(keyXGroq), len(keyPromptEvalCount)} {
		open := q - n - 1
		if open < 0 {
			return ""
		}
		if b[open] != '"' {
			continue
		}
		if escapedQuote(b, open) {
			return "" // the key holds a quote: none of ours
		}
		switch k := b[open+1 : q]; string(k) {
		case keyID:
			return keyID
		case keyModel:
			return keyModel
		case keyUsage:
			return keyUsage
		case keyError:
			return keyError
		case keyXGroq:
			return keyXGroq
		case keyPromptEvalCount:
			return keyPromptEvalCount
		}
		return ""
	}
	return ""
}

// sameString reports that the value starting at b[v] would leave held
// unchanged as an id or model: it is not a string (setModel and setID take
// strings only), or it is an empty string, or a string without escapes
// equal to held. It also returns the index of the last byte it read.
func sameString(b []byte, v int, held []byte) (reach int, same bool) {
	if b[v] != '"' {
		return v, true
	}
	s, n := b[v+1:], len(held)
	if len(s) > 0 && s[0] == '"' {
		return v + 1, true // ""
	}
	// Equal bytes then a quote, and no backslash (so no escape): the
	// string is held.
	same = n > 0 && len(s) > n && s[n] == '"' && bytes.Equal(s[:n], held) && bytes.IndexByte(held, '\\') < 0
	return v + 1 + n, same
}
