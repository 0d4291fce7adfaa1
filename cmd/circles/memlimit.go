package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// setMemoryLimit gives the garbage collector a soft limit of 75% of the
// memory the process may use, unless GOMEMLIMIT is set. A run's live heap
// is large (every event of the window, then a table of suggestions), and
// with the default GOGC alone the heap may grow to twice that before a
// collection. In a container the limit is the cgroup's, not the host's:
// a pod near its limit then collects harder instead of being OOM-killed.
func setMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if limit := memoryAvailable(os.ReadFile); limit > 0 {
		debug.SetMemoryLimit(limit * 3 / 4)
	}
}

// memoryAvailable is the smallest of the machine's memory (/proc/meminfo)
// and the cgroup's limit (v2 memory.max, or v1 memory.limit_in_bytes), in
// bytes; 0 when none can be read (not Linux).
func memoryAvailable(readFile func(string) ([]byte, error)) int64 {
	var limit int64
	lower := func(n int64) {
		if n > 0 && (limit == 0 || n < limit) {
			limit = n
		}
	}
	if b, err := readFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64); err == nil {
					lower(kb * 1024)
				}
			}
		}
	}
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := readFile(path); err == nil {
			// "max" (v2) means no limit; v1 says so with a huge number,
			// which the machine's memory then undercuts.
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
				lower(n)
			}
		}
	}
	return limit
}
