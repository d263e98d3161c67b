package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver (pure Go)
)

// DefaultBusyTimeout is how long a statement waits for another connection's
// lock before failing with SQLITE_BUSY.
const DefaultBusyTimeout = 5 * time.Second

// Options tune Open. The zero value is ready to use.
type Options struct {
	// BusyTimeout is how long a statement waits on another process's lock;
	// 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
}

// DB is an open ledger. Queries go through a pool of read-only connections;
// writes (the Writer's batches, MarkSynced) through a single read-write
// connection, so a long export never holds up the proxy's writes. A DB from
// OpenReadOnly has no write connection. A DB is safe for concurrent use.
type DB struct {
	path     string
	write    *sql.DB // nil when read-only
	read     *sql.DB
	readOnly bool
	ident    os.FileInfo // the file Open opened, to notice it deleted or replaced

	insertMu sync.Mutex // guards insert
	insert   rawInsert

	versionMu   sync.Mutex
	versionConn *sql.Conn // pinned for DataVersion
	closeOnce   sync.Once
	closeErr    error
}

// VersionError reports a ledger whose schema this binary cannot use: written
// by a newer Conduit (Have > Want), or, for a read-only open, not yet
// created or migrated by this one (Have < Want).
type VersionError struct {
	Path       string
	Have, Want int
}

// Error names the file, both versions and what to do.
func (e *VersionError) Error() string {
	if e.Have > e.Want {
		return fmt.Sprintf("ledger %s has schema version %d, newer than this conduit understands (version %d): upgrade conduit, or point [ledger] path at another file", e.Path, e.Have, e.Want)
	}
	return fmt.Sprintf("ledger %s has schema version %d, older than this conduit's (version %d): run `conduit proxy` once to upgrade it", e.Path, e.Have, e.Want)
}

// ErrNoLedger is returned (wrapped) by OpenReadOnly when the file does not
// exist.
var ErrNoLedger = errors.New("no ledger")

// ErrReadOnly is returned (wrapped) by writes to a DB from OpenReadOnly.
var ErrReadOnly = errors.New("ledger opened read-only")

// Open opens the ledger at path for writing, creating the file (mode 0600)
// and its parent directories if needed, and migrates it to SchemaVersion.
// It sets WAL (readers in other processes never block the writer, nor it
// them), synchronous=NORMAL (a commit is durable against a process crash;
// a power loss may lose the last commits but never corrupts the file) and a
// busy timeout (another process briefly holding a lock is waited for, not
// an error). A ledger written by a newer Conduit fails with *VersionError.
// The caller must Close the DB.
func Open(path string, opts Options) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open ledger %s: %w", path, err)
		}
	}
	// Create the file ourselves so that it is private; SQLite would use
	// 0644.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	ident, err := f.Stat()
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}

	busy := busyMillis(opts.BusyTimeout)
	w, err := sql.Open("sqlite", dsn(path, "rwc",
		"_pragma=busy_timeout("+busy+")",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_txlock=immediate",
	))
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	// One writer connection: SQLite has one writer anyway, and one
	// connection makes the Writer's batches and MarkSynced queue in Go
	// rather than contend for the lock.
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	ctx := context.Background()
	if err := connect(ctx, w, opts.BusyTimeout); err != nil {
		w.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if err := migrate(ctx, w, path); err != nil {
		w.Close()
		return nil, err
	}
	r, err := openReadPool(path, busy)
	if err != nil {
		w.Close()
		return nil, err
	}
	return &DB{path: path, write: w, read: r, ident: ident}, nil
}

// OpenReadOnly opens an existing ledger for reading, for processes other
// than the proxy (dashboard, export, report). It works while a proxy writes
// the same file. It fails with an error wrapping ErrNoLedger when the file
// does not exist, and with *VersionError when its schema is not this
// binary's. The caller must Close the DB.
func OpenReadOnly(path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s: run `conduit proxy` first (or set [ledger] path in conduit.toml)", ErrNoLedger, path)
		}
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	r, err := openReadPool(path, busyMillis(0))
	if err != nil {
		return nil, err
	}
	v, err := userVersion(context.Background(), r)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if v != SchemaVersion {
		r.Close()
		return nil, &VersionError{Path: path, Have: v, Want: SchemaVersion}
	}
	return &DB{path: path, read: r, readOnly: true}, nil
}

func openReadPool(path, busy string) (*sql.DB, error) {
	r, err := sql.Open("sqlite", dsn(path, "ro", "_pragma=busy_timeout("+busy+")"))
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	if err := r.PingContext(context.Background()); err != nil {
		r.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	return r, nil
}

// dsn builds a SQLite URI for path: file:<escaped path>?mode=…&params.
func dsn(path, mode string, params ...string) string {
	u := url.URL{Path: path}
	s := "file:" + u.EscapedPath() + "?mode=" + mode
	for _, p := range params {
		s += "&" + p
	}
	return s
}

// connect makes w's connection, waiting (up to busy) while another
// connection holds a lock. Setting the WAL journal mode takes a lock that
// SQLite does not wait for with busy_timeout: when processes open a new
// ledger at once, one may convert the file while another migrates it, and
// the others' connections fail at once with SQLITE_BUSY. Retrying the
// connection is the wait busy_timeout would have given.
func connect(ctx context.Context, w *sql.DB, busy time.Duration) error {
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	deadline := time.Now().Add(busy)
	pause := 5 * time.Millisecond
	for {
		err := w.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// isBusy reports SQLite's SQLITE_BUSY (5) or SQLITE_LOCKED (6), extended
// codes included.
func isBusy(err error) bool {
	var se interface{ Code() int }
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code() & 0xff
	return c == 5 || c == 6
}

func busyMillis(d time.Duration) string {
	if d <= 0 {
		d = DefaultBusyTimeout
	}
	return fmt.Sprint(d.Milliseconds())
}

// Replaced reports whether the file at the DB's path is no longer the one
// Open opened: deleted (rm conduit.db*), or replaced by another file. The
// DB then still writes to the old file, which nothing will read: the
// caller should log it and open the path again. A DB from OpenReadOnly
// never reports it.
func (db *DB) Replaced() (bool, error) {
	if db.ident == nil {
		return false, nil
	}
	fi, err := os.Stat(db.path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("check ledger %s: %w", db.path, err)
	}
	return !os.SameFile(fi, db.ident), nil
}

// Path returns the file the DB was opened from.
func (db *DB) Path() string { return db.path }

// ReadOnly reports whether the DB came from OpenReadOnly.
func (db *DB) ReadOnly() bool { return db.readOnly }

// Close closes the DB's connections. It is idempotent. A Writer using the
// DB must be closed first.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		db.versionMu.Lock()
		if db.versionConn != nil {
			errs = append(errs, db.versionConn.Close())
			db.versionConn = nil
		}
		db.versionMu.Unlock()
		db.insertMu.Lock()
		errs = append(errs, db.insert.close())
		db.insertMu.Unlock()
		errs = append(errs, db.read.Close())
		if db.write != nil {
			errs = append(errs, db.write.Close())
		}
		if err := errors.Join(errs...); err != nil {
			db.closeErr = fmt.Errorf("close ledger %s: %w", db.path, err)
		}
	})
	return db.closeErr
}

// DataVersion returns SQLite's data_version for a connection the DB keeps
// for the purpose: it changes whenever any other connection, in this
// process or another, commits a change to the file. Poll it and re-query
// only when it moved. The value is meaningful only compared with earlier
// values from the same DB.
func (db *DB) DataVersion(ctx context.Context) (int64, error) {
	db.versionMu.Lock()
	defer db.versionMu.Unlock()
	if db.versionConn == nil {
		c, err := db.read.Conn(ctx)
		if err != nil {
			return 0, fmt.Errorf("ledger data version: %w", err)
		}
		db.versionConn = c
	}
	var v int64
	if err := db.versionConn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("ledger data version: %w", err)
	}
	return v, nil
}

// MaxSeq returns the seq of the newest row (0 for an empty ledger): rows
// with a greater seq were written since.
func (db *DB) MaxSeq(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	if err := db.read.QueryRowContext(ctx, "SELECT max(seq) FROM calls").Scan(&v); err != nil {
		return 0, fmt.Errorf("ledger newest row: %w", err)
	}
	return v.Int64, nil
}

func (db *DB) writer() (*sql.DB, error) {
	if db.write == nil {
		return nil, fmt.Errorf("ledger %s: %w", db.path, ErrReadOnly)
	}
	return db.write, nil
}
