package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
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

// clockTicks is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux for every architecture Go
// supports).
const clockTicks = 100

// cpuTime is the user and system CPU time spent so far by the process and its children (nginx's
// workers), from /proc/PID/stat; 0 without a process.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	t := procCPU(pid)
	for _, c := range children(pid) {
		t += procCPU(c)
	}
	return t
}

// procCPU is utime+stime of one process.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces: count fields after it.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 { // fields 3.. ; utime and stime are fields 14 and 15
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / clockTicks
}
