package pricing

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/valohai/conduit/ledger/pricing/internal/book"
)

// DefaultUpdateURL is where genai-prices publishes its current data, the
// feed `conduit prices update` downloads unless told another URL.
const DefaultUpdateURL = "https://raw.githubusercontent.com/pydantic/genai-prices/main/prices/new_data/v2/data.json"

// The overlay and the source's metadata travel with the binary, so that
// downloaded data gets the same corrections and can be dated against the
// embedded book.
var (
	//go:embed overlay.json
	embeddedOverlay []byte
	//go:embed source/source.json
	embeddedSourceMeta []byte
)

// Files of a stored download, in the directory `conduit prices update`
// writes (see UpdateDir).
const (
	updateDataFile = "genai-prices.json"
	updateMetaFile = "genai-prices.meta.json"
)

// Update is price data downloaded to replace the embedded book's, checked
// and compiled with the embedded overlay.
type Update struct {
	URL string
	// Date is the data's date: the server's Last-Modified, else when it
	// was downloaded. Of the embedded and a downloaded book, the proxy
	// prices with the later one.
	Date      time.Time
	SHA256    string // of the data, hex
	Version   string // the book version recorded with calls priced from it
	Providers int
	Models    int
	// Stale lists the overlay corrections the data no longer needs.
	Stale []string

	data []byte
	book *priceBook
}

// updateMeta is the stored description of a download.
type updateMeta struct {
	URL          string    `json:"url"`
	Date         time.Time `json:"date"`
	SHA256       string    `json:"sha256"`
	DownloadedAt time.Time `json:"downloaded_at"`
}

// UpdateDir returns where downloaded price data is kept: conduit/prices
// under the user's config directory.
func UpdateDir() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config directory for price data: %w", err)
	}
	return filepath.Join(base, "conduit", "prices"), nil
}

// EmbeddedDate is the publication date of the embedded book's data.
func EmbeddedDate() time.Time {
	b, err := embedded()
	if err != nil {
		return time.Time{}
	}
	return b.date
}

// CheckUpdate compiles data, a genai-prices feed fetched from url, dated
// date, with the embedded overlay, and checks it: a schema the compiler
// understands, rates that are prices, and every model of the embedded book
// still there (a feed that lost models is broken, not newer). It does not
// compare dates: the caller decides what is newer.
func CheckUpdate(data []byte, url string, date time.Time) (*Update, error) {
	emb, err := embedded()
	if err != nil {
		return nil, err
	}
	date = date.UTC()
	sum := sha256.Sum256(data)
	u := &Update{URL: url, Date: date, SHA256: hex.EncodeToString(sum[:]), data: data}
	var meta book.SourceMeta
	if err := json.Unmarshal(embeddedSourceMeta, &meta); err != nil {
		return nil, fmt.Errorf("embedded source metadata: %w", err)
	}
	meta.Version = fmt.Sprintf("data of %s sha256:%s", date.Format(time.DateOnly), u.SHA256[:12])
	meta.Date, meta.URL = date.Format(time.DateOnly), url
	b, err := book.Compile(meta, data, embeddedOverlay, book.Options{SkipStale: true})
	if err != nil {
		return nil, fmt.Errorf("price data from %s: %w", url, err)
	}
	enc, err := book.Encode(b)
	if err != nil {
		return nil, err
	}
	if u.book, err = loadBook(enc); err != nil {
		return nil, fmt.Errorf("price data from %s: %w", url, err)
	}
	var missing []string
	for _, p := range emb.providers {
		np := u.book.byID[p.id]
		for _, m := range p.models {
			if np == nil || np.model(m.id) == nil {
				missing = append(missing, p.id+"/"+m.id)
			}
		}
	}
	if len(missing) > 0 {
		more := ""
		if len(missing) > 5 {
			more = fmt.Sprintf(" and %d more", len(missing)-5)
			missing = missing[:5]
		}
		return nil, fmt.Errorf("price data from %s lacks %s%s, which the built-in book prices: not an update", url, strings.Join(missing, ", "), more)
	}
	u.Version, u.Stale, u.Providers = b.Version, b.Stale, len(b.Providers)
	for _, p := range b.Providers {
		u.Models += len(p.Models)
	}
	u.book.origin = "downloaded from " + url
	return u, nil
}

// Save stores u in dir (created 0700 if needed), replacing an earlier
// download. The data is written before its description, each by rename,
// so a crash leaves either the old download or one LoadUpdate refuses.
func (u *Update) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store price data: %w", err)
	}
	meta, err := json.MarshalIndent(updateMeta{URL: u.URL, Date: u.Date, SHA256: u.SHA256, DownloadedAt: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{updateDataFile, u.data}, {updateMetaFile, append(meta, '\n')}} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("store price data: %w", err)
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// LoadUpdate reads and checks the download stored in dir. It returns nil
// and no error when there is none.
func LoadUpdate(dir string) (*Update, error) {
	metaData, err := os.ReadFile(filepath.Join(dir, updateMetaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stored price data: %w", err)
	}
	var meta updateMeta
	if err := json.Unmarshal(metaData, &meta); err != nil {
		return nil, fmt.Errorf("stored price data %s: %w", filepath.Join(dir, updateMetaFile), err)
	}
	path := filepath.Join(dir, updateDataFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read stored price data: %w", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != meta.SHA256 {
		return nil, fmt.Errorf("stored price data %s does not match its description (an interrupted update?): run `conduit prices update` again", path)
	}
	return CheckUpdate(data, meta.URL, meta.Date)
}

// UseUpdate makes p price from u's data instead of the embedded book's.
func (p *Pricer) UseUpdate(u *Update) { p.book = u.book }

// Source describes the price book p prices from: its version, the date of
// its data, and whether it is the embedded one or a download.
func (p *Pricer) Source() (version string, date time.Time, origin string) {
	return p.book.version, p.book.date, p.book.origin
}
