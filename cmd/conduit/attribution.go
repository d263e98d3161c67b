package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/valohai/conduit/intercept"
)

// clientAttribution is the attribution `conduit run` (and `conduit env
// --project`) gives a tool's calls: project from --project, else the name
// of the git repository around dir, else dir's name; a new session when
// withSession; the --tag values (each may hold several, comma-separated).
func clientAttribution(cmdName, project string, tags []string, dir string, withSession bool, now time.Time) (intercept.Attribution, error) {
	a := intercept.Attribution{Project: strings.TrimSpace(project)}
	explicit := a.Project != ""
	if !explicit && dir != "" {
		a.Project = projectOf(dir)
	}
	if withSession {
		a.Session = newSessionID(now)
	}
	for _, v := range tags {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				a.Tags = append(a.Tags, t)
			}
		}
	}
	if err := a.Check(); err != nil {
		if !explicit && a.Project != "" {
			// A directory name no attribution can carry: go without it.
			a.Project = ""
			if a.Check() == nil {
				return a, nil
			}
		}
		return intercept.Attribution{}, usageErrorf("%s: --project/--tag: %v", cmdName, err)
	}
	return a, nil
}

// projectOf names the project a directory belongs to: the top directory of
// the git repository (or worktree) around it — the directory holding
// .git, a directory or a file, as `git rev-parse --show-toplevel` finds
// it, without running git — else the directory itself.
func projectOf(dir string) string {
	dir = filepath.Clean(dir)
	for d := dir; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return filepath.Base(d)
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if b := filepath.Base(dir); b != string(filepath.Separator) && b != "." {
		return b
	}
	return ""
}

// newSessionID is a short id that sorts by time: the UTC second it was
// made and four random hex digits, "20260105T143012-3fa9".
func newSessionID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return fmt.Sprintf("%s-%s", now.UTC().Format("20060102T150405"), hex.EncodeToString(b[:]))
}
