// Package cpusteal measures the share of CPU time the hypervisor gave to
// other machines, so that a benchmark run on a shared virtual machine can
// say how much of its time was not its own.
package cpusteal

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Sample is the kernel's CPU time counters at one moment.
type Sample struct {
	steal, total uint64
	ok           bool
}

// Read samples /proc/stat; on systems without it the sample is empty and
// Percent reports nothing.
func Read() Sample {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return Sample{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s, ok := parse(sc.Text()); ok {
			return s
		}
	}
	return Sample{}
}

// parse reads the all-CPU line: "cpu user nice system idle iowait irq
// softirq steal ...".
func parse(line string) (Sample, bool) {
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return Sample{}, false
	}
	var s Sample
	for i, f := range fields[1:] {
		if i >= 8 { // guest time is already counted in user
			break
		}
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return Sample{}, false
		}
		s.total += v
		if i == 7 {
			s.steal = v
		}
	}
	s.ok = true
	return s, true
}

// Percent returns the share of CPU time stolen between two samples, and
// false when it cannot tell.
func Percent(from, to Sample) (float64, bool) {
	if !from.ok || !to.ok || to.total <= from.total {
		return 0, false
	}
	return 100 * float64(to.steal-from.steal) / float64(to.total-from.total), true
}

// String formats a share for a benchmark log.
func String(pct float64, ok bool) string {
	if !ok {
		return "unknown"
	}
	return fmt.Sprintf("%.0f%%", pct)
}
