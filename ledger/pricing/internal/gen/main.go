// Command gen compiles the price book Conduit embeds: the pinned
// genai-prices data under ledger/pricing/source plus the reviewed overlay
// (ledger/pricing/overlay.json) into ledger/pricing/book.json. It is run by
// `go generate ./ledger/pricing` (or `make prices`) from the pricing
// package's directory, and fails, naming the field and its path, on data
// it does not understand.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/valohai/conduit/ledger/pricing/internal/book"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	meta := flag.String("meta", "source/source.json", "the source's name, version and licence")
	source := flag.String("source", "source/genai-prices.json", "the pinned genai-prices data")
	overlay := flag.String("overlay", "overlay.json", "the reviewed corrections")
	out := flag.String("out", "book.json", "where the compiled book goes")
	flag.Parse()

	b, err := book.Build(*meta, *source, *overlay)
	if err != nil {
		return err
	}
	data, err := book.Encode(b)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, data) {
		fmt.Printf("%s unchanged (%d bytes): %s\n", *out, len(data), b.Summary())
		return nil
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes): %s\n", *out, len(data), b.Summary())
	for _, r := range b.Rounded {
		line, _ := json.Marshal(r)
		fmt.Printf("  rounded: %s\n", line)
	}
	return nil
}
