package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Mem is a process's resident memory, from /proc/<pid>/status.
type Mem struct {
	RSS int64 // VmRSS, bytes: resident now
	HWM int64 // VmHWM, bytes: the peak resident size so far
}

// ParseProcStatus reads VmRSS and VmHWM from the text of /proc/<pid>/status.
func ParseProcStatus(r io.Reader) (Mem, error) {
	var m Mem
	var found int
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("proc status %s: unexpected value %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("proc status %s: %w", k, err)
		}
		if k == "VmRSS" {
			m.RSS = n << 10
		} else {
			m.HWM = n << 10
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("read proc status: %w", err)
	}
	if found != 2 {
		return m, fmt.Errorf("proc status: VmRSS or VmHWM missing")
	}
	return m, nil
}

// ReadMem reads process pid's resident memory (Linux only).
func ReadMem(pid int) (Mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	return ParseProcStatus(bytes.NewReader(b))
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// ParseProcStat returns the user plus system CPU time in the text of
// /proc/<pid>/stat (fields 14 and 15, counted after the parenthesised
// command name, which may itself hold spaces).
func ParseProcStat(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields", len(f)+2)
	}
	var total int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: cpu time %q: %w", s, err)
		}
		total += n
	}
	return time.Duration(total) * clockTick, nil
}

// ReadCPU reads process pid's CPU time so far, user plus system (Linux
// only, 10 ms resolution).
func ReadCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	return ParseProcStat(string(b))
}
