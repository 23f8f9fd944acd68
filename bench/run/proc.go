package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// peakRSS is the peak resident set (VmHWM) in KiB of the process and its children (nginx's
// workers), summed; 0 without a process.
func peakRSS(pid int) int {
	if pid == 0 {
		return 0
	}
	kb := procStatusKB(pid, "VmHWM:")
	for _, c := range children(pid) {
		kb += procStatusKB(c, "VmHWM:")
	}
	return kb
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if procStatusKB(c, "PPid:") == pid {
			out = append(out, c)
		}
	}
	return out
}

func procStatusKB(pid int, field string) int {
	if pid == 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	return 0
}
