package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOpenFresh: Open creates the directory and a private file, and leaves
// the schema at SchemaVersion with WAL on.
func TestOpenFresh(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "dir", "conduit.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	ctx := context.Background()
	if v, err := userVersion(ctx, db.write); err != nil || v != SchemaVersion {
		t.Errorf("user_version = %d, %v; want %d", v, err, SchemaVersion)
	}
	var mode string
	if err := db.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	var sync int
	if err := db.write.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
		t.Errorf("synchronous = %d, %v; want 1 (NORMAL)", sync, err)
	}
}

// TestOpenReopen: a second Open of the same file keeps its rows and
// applies no migration again.
func TestOpenReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "conduit.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustInsert(t, db, sampleRecord(1), sampleRecord(2))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tot, err := db.Totals(context.Background(), Filter{})
	if err != nil || tot.Calls != 2 {
		t.Fatalf("after reopen: %+v, %v", tot, err)
	}
}

// TestOpenConcurrentMigration: two connections opening a new ledger at once
// both succeed; the schema is created once.
func TestOpenConcurrentMigration(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "conduit.db")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(path, Options{})
			if err == nil {
				err = db.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func setUserVersion(t *testing.T, path string, v int) {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		t.Fatal(err)
	}
}

// TestOpenFutureVersion: a ledger from a newer Conduit is refused, naming
// both versions, by Open and OpenReadOnly alike.
func TestOpenFutureVersion(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "conduit.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	future := SchemaVersion + 3
	setUserVersion(t, path, future)
	for name, open := range map[string]func() (*DB, error){
		"Open":         func() (*DB, error) { return Open(path, Options{}) },
		"OpenReadOnly": func() (*DB, error) { return OpenReadOnly(path) },
	} {
		_, err := open()
		var ve *VersionError
		if !errors.As(err, &ve) || ve.Have != future || ve.Want != SchemaVersion {
			t.Fatalf("%s: err = %v, want a VersionError %d > %d", name, err, future, SchemaVersion)
		}
		msg := err.Error()
		if !strings.Contains(msg, fmt.Sprint(future)) || !strings.Contains(msg, fmt.Sprint(SchemaVersion)) || !strings.Contains(msg, "newer") {
			t.Errorf("%s: message %q does not name both versions", name, msg)
		}
	}
}

// TestOpenReadOnlyMissing: no file gives a clear error, and creates nothing.
func TestOpenReadOnlyMissing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "conduit.db")
	_, err := OpenReadOnly(path)
	if !errors.Is(err, ErrNoLedger) || !strings.Contains(err.Error(), "conduit proxy") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly created the file: %v", err)
	}
}

// TestOpenReadOnlyUnmigrated: an existing SQLite file without the schema is
// reported as older than this binary, not misread.
func TestOpenReadOnlyUnmigrated(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "conduit.db")
	setUserVersion(t, path, 0)
	_, err := OpenReadOnly(path)
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Have != 0 || !strings.Contains(err.Error(), "older") {
		t.Fatalf("err = %v", err)
	}
}

// TestReadOnlyRefusesWrites: the read-only DB reads and refuses writes.
func TestReadOnlyRefusesWrites(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	mustInsert(t, db, sampleRecord(1))
	ro, err := OpenReadOnly(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ctx := context.Background()
	if err := ro.Insert(ctx, []Record{sampleRecord(2)}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Insert: %v", err)
	}
	if err := ro.MarkSynced(ctx, []string{sampleRecord(1).ID}, baseTime); !errors.Is(err, ErrReadOnly) {
		t.Errorf("MarkSynced: %v", err)
	}
	// Even SQL that tries to write through the read pool fails.
	if _, err := ro.read.ExecContext(ctx, "DELETE FROM calls"); err == nil {
		t.Error("read pool accepted a DELETE")
	}
	if tot, err := ro.Totals(ctx, Filter{}); err != nil || tot.Calls != 1 {
		t.Errorf("Totals = %+v, %v", tot, err)
	}
}

// TestReadOnlyAfterWriterClosed: a reader can open the ledger after the
// proxy has closed it (no WAL files left behind).
func TestReadOnlyAfterWriterClosed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "conduit.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustInsert(t, db, sampleRecord(1))
	db.Close()
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if p, err := ro.Page(context.Background(), Filter{}, Cursor{}, 10); err != nil || len(p.Rows) != 1 {
		t.Fatalf("Page = %+v, %v", p, err)
	}
}

// TestSchemaHoldsNoCredentials: no column could hold a credential, the one
// header column keeps only x-vh-* names, and credential query values are
// redacted, so a secret that slipped into a Record never reaches the file.
func TestSchemaHoldsNoCredentials(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	rows, err := db.read.QueryContext(ctx, "SELECT name FROM pragma_table_info('calls')")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := regexp.MustCompile(`auth|api.?key|secret|passw|credential|cookie|bearer|token$|^key$`)
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if forbidden.MatchString(name) || (strings.Contains(name, "header") && name != "vh_headers") {
			t.Errorf("column %q could hold a credential", name)
		}
	}
	rows.Close()

	const secret = "sk-SECRET-0123456789"
	r := sampleRecord(1)
	r.Path = "/v1beta/models/gemini-2.5-pro:generateContent?alt=sse&key=" + secret
	r.VHHeaders = map[string]string{"x-vh-run": "r1", "Authorization": "Bearer " + secret, "x-api-key": secret}
	mustInsert(t, db, r)
	got, _, err := db.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/v1beta/models/gemini-2.5-pro:generateContent?alt=sse&key=REDACTED"; got.Path != want {
		t.Errorf("path = %q, want %q", got.Path, want)
	}
	if len(got.VHHeaders) != 1 || got.VHHeaders["x-vh-run"] != "r1" {
		t.Errorf("vh_headers = %v", got.VHHeaders)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(db.Path() + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("secret found in %s", db.Path()+suffix)
		}
	}
}

func TestScrubPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/v1/chat/completions", "/v1/chat/completions"},
		{"/v1/x?alt=sse", "/v1/x?alt=sse"},
		{"/v1/x?key=abc", "/v1/x?key=REDACTED"},
		{"/v1/x?alt=sse&KEY=abc&x=1", "/v1/x?alt=sse&KEY=REDACTED&x=1"},
		{"/v1/x?api_key=abc&monkey=1", "/v1/x?api_key=REDACTED&monkey=1"},
		{"/v1/x?ke%79=abc", "/v1/x?key=REDACTED"},
	}
	for _, tt := range tests {
		if got := scrubPath(tt.in); got != tt.want {
			t.Errorf("scrubPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDataVersionAndMaxSeq: both move when another connection writes.
func TestDataVersionAndMaxSeq(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	ro, err := OpenReadOnly(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	v1, err := ro.DataVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := ro.MaxSeq(ctx); s != 0 {
		t.Errorf("MaxSeq of empty ledger = %d", s)
	}
	v2, _ := ro.DataVersion(ctx)
	if v1 != v2 {
		t.Errorf("data_version moved without a write: %d → %d", v1, v2)
	}
	mustInsert(t, db, sampleRecord(1))
	v3, _ := ro.DataVersion(ctx)
	if v3 == v2 {
		t.Error("data_version did not move after a write")
	}
	if s, _ := ro.MaxSeq(ctx); s != 1 {
		t.Errorf("MaxSeq = %d, want 1", s)
	}
	// The writer's own DB sees its writes too (its pinned reader is a
	// different connection).
	w1, _ := db.DataVersion(ctx)
	mustInsert(t, db, sampleRecord(2))
	if w2, _ := db.DataVersion(ctx); w2 == w1 {
		t.Error("data_version on the writing DB did not move")
	}
}

// TestInsertIdempotent: re-inserting a batch (as after an ambiguous commit
// failure) stores each call once.
func TestInsertIdempotent(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	recs := []Record{sampleRecord(1), sampleRecord(2)}
	mustInsert(t, db, recs...)
	mustInsert(t, db, append(recs, sampleRecord(3))...)
	if tot, _ := db.Totals(context.Background(), Filter{}); tot.Calls != 3 {
		t.Fatalf("calls = %d, want 3", tot.Calls)
	}
}

// TestInsertManyRows crosses the multi-row statement boundary.
func TestInsertManyRows(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	var recs []Record
	for i := range 100 {
		recs = append(recs, sampleRecord(i))
	}
	mustInsert(t, db, recs...)
	if tot, _ := db.Totals(context.Background(), Filter{}); tot.Calls != int64(len(recs)) {
		t.Fatalf("calls = %d, want %d", tot.Calls, len(recs))
	}
	got, _, _ := db.Get(context.Background(), recs[len(recs)-1].ID)
	if diff := recordDiff(got.Record, recs[len(recs)-1]); diff != "" {
		t.Error(diff)
	}
}

// TestRecordRoundTrip: a record without usage or response keeps its
// unknowns unknown (NULL), and every field survives.
func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	full := sampleRecord(1)
	full.ProviderCostUSD = f64(0.0042)
	full.CacheWriteTokens, full.CacheWrite5mTokens, full.CacheWrite1hTokens = 30, 10, 20
	full.Error = ""
	synced := baseTime.Add(time.Hour)
	full.SyncedAt = &synced
	bare := Record{
		ID: "bare", StartedAt: baseTime, FinishedAt: baseTime.Add(time.Second),
		Provider: "anthropic", API: "anthropic", Mode: ModeForward, Method: "POST",
		Host: "api.anthropic.com", Path: "/v1/messages", Outcome: OutcomeUpstreamError,
		Error: "dial tcp: connection refused", Duration: time.Second,
	}
	mustInsert(t, db, full, bare)
	for _, want := range []Record{full, bare} {
		got, ok, err := db.Get(context.Background(), want.ID)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if diff := recordDiff(got.Record, want); diff != "" {
			t.Error(diff)
		}
	}
	var nulls int
	err := db.read.QueryRow(`SELECT (input_tokens IS NULL) + (cost_usd IS NULL) + (status IS NULL)
		+ (ttfb_ms IS NULL) + (model IS NULL) + (usage IS NULL) + (vh_headers IS NULL) + (tags IS NULL)
		FROM calls WHERE id = 'bare'`).Scan(&nulls)
	if err != nil || nulls != 8 {
		t.Errorf("unknowns stored as NULL: %d of 8, %v", nulls, err)
	}
}

func TestVHHeadersJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   map[string]string
		want any
	}{
		{nil, nil},
		{map[string]string{"authorization": "x"}, nil},
		{map[string]string{"x-vh-b": "2", "X-VH-A": `q"1`, "x-api-key": "k"}, `{"x-vh-a":"q\"1","x-vh-b":"2"}`},
		{map[string]string{"x-vh-": "empty name"}, nil},
	}
	for _, tt := range tests {
		if got := vhHeadersJSON(tt.in); got != tt.want {
			t.Errorf("vhHeadersJSON(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := tagsJSON([]string{"a", "", "b", "a"}); got != `["a","b"]` {
		t.Errorf("tagsJSON = %v", got)
	}
}

// TestReplaced guards the check that notices a ledger deleted or replaced
// under a running writer: the file as opened (and written) is not
// replaced; removed, or another file at the path, it is.
func TestReplaced(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		change func(t *testing.T, path string)
		want   bool
	}{
		{"untouched", func(*testing.T, string) {}, false},
		{"removed", func(t *testing.T, path string) {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
		}, true},
		{"replaced", func(t *testing.T, path string) {
			other := path + ".new"
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "conduit.db")
			db, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			mustInsert(t, db, sampleRecord(1))
			tt.change(t, path)
			if got, err := db.Replaced(); err != nil || got != tt.want {
				t.Errorf("Replaced() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
