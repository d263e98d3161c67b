package ledger

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestRecordQueue checks the chunked queue against a slice under random
// pushes and pops of random sizes.
func TestRecordQueue(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var q recordQueue
	var model []string
	next := 0
	for step := range 3000 {
		if rng.IntN(3) > 0 {
			for range rng.IntN(300) {
				id := strconv.Itoa(next)
				next++
				q.push(Record{ID: id})
				model = append(model, id)
			}
		} else {
			k := rng.IntN(400)
			got := q.popInto(nil, k)
			want := model[:min(k, len(model))]
			model = model[len(want):]
			if len(got) != len(want) {
				t.Fatalf("step %d: popped %d, want %d", step, len(got), len(want))
			}
			for i := range got {
				if got[i].ID != want[i] {
					t.Fatalf("step %d: got %s, want %s", step, got[i].ID, want[i])
				}
			}
		}
		if q.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, q.len(), len(model))
		}
	}
}
