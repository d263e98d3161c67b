package ledger

// recordQueue is a FIFO of records in fixed-size chunks: pushing and
// popping never copy the queue, and memory follows its length (a chunk is
// freed once emptied, one spare kept for reuse).
type recordQueue struct {
	head, tail *queueChunk
	spare      *queueChunk
	n          int
}

const queueChunkSize = 128

type queueChunk struct {
	recs       [queueChunkSize]Record
	start, end int
	next       *queueChunk
}

func (q *recordQueue) len() int { return q.n }

func (q *recordQueue) push(r Record) {
	if q.tail == nil || q.tail.end == queueChunkSize {
		c := q.spare
		if c != nil {
			q.spare = nil
		} else {
			c = new(queueChunk)
		}
		if q.tail == nil {
			q.head = c
		} else {
			q.tail.next = c
		}
		q.tail = c
	}
	q.tail.recs[q.tail.end] = r
	q.tail.end++
	q.n++
}

// popInto moves up to max records from the front of the queue to dst and
// returns it.
func (q *recordQueue) popInto(dst []Record, max int) []Record {
	for max > 0 && q.head != nil {
		c := q.head
		k := min(max, c.end-c.start)
		dst = append(dst, c.recs[c.start:c.start+k]...)
		clear(c.recs[c.start : c.start+k]) // drop references for the GC
		c.start += k
		q.n -= k
		max -= k
		if c.start == c.end && (c.end == queueChunkSize || c == q.tail) {
			q.head = c.next
			if q.head == nil {
				q.tail = nil
			}
			*c = queueChunk{}
			q.spare = c
		}
	}
	return dst
}
