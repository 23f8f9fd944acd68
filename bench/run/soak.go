package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// soakRun loads shadowproxy with the 50 ms candidate and a Kafka sink for o.soak, stops the broker for
// the middle third, and samples memory, goroutines and file descriptors.
func (h *harness) soakRun(ctx context.Context) error {
	m, err := h.startModels()
	if err != nil {
		return err
	}
	brokerAddr, err := freeAddr()
	if err != nil {
		return err
	}
	dataDir := filepath.Join(h.dir, "kafka-data")
	startBroker := func() (*exec.Cmd, error) {
		b, err := h.start(h.cpus.models, h.bin.broker, "-addr", brokerAddr, "-topic", "shadowproxy.records", "-data-dir", dataDir, "-stdin=false")
		if err != nil {
			return nil, err
		}
		return b, waitListening(brokerAddr)
	}
	broker, err := startBroker()
	if err != nil {
		return err
	}
	listen, admin, pid, err := h.startShadowproxy("soak", m.primary, m.slow, brokerAddr)
	if err != nil {
		return err
	}
	script := filepath.Join(h.dir, "post.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return err
	}
	type loadOut struct {
		r   result
		err error
	}
	done := make(chan loadOut, 1)
	go func() {
		r, err := h.load(ctx, "http://"+listen, script, h.o.soak)
		done <- loadOut{r, err}
	}()
	var rows []string
	start := time.Now()
	tick := time.NewTicker(max(h.o.sample, time.Second))
	defer tick.Stop()
	outage := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case lo := <-done:
			if lo.err != nil {
				return lo.err
			}
			table := "| t | RSS MB | goroutines | open fds | Kafka | records to Kafka | spooled | in spool | dropped |\n|---:|---:|---:|---:|---|---:|---:|---:|---:|\n" + strings.Join(rows, "\n") +
				fmt.Sprintf("\n\nLoad: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors; peak RSS %.1f MB.\n", lo.r.rps, lo.r.p50, lo.r.p99, lo.r.errors, float64(peakRSS(pid))/1024)
			fmt.Println(table)
			return writeResults(h.o, table, "soak")
		case <-tick.C:
			el := time.Since(start)
			switch {
			case !outage && broker != nil && el > h.o.soak/3:
				_ = syscall.Kill(-broker.Process.Pid, syscall.SIGKILL)
				_ = broker.Wait()
				broker, outage = nil, true
			case outage && broker == nil && el > 2*h.o.soak/3:
				if broker, err = startBroker(); err != nil {
					return err
				}
			}
			state := "up"
			if broker == nil {
				state = "down"
			}
			fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
			mt := scrape(admin)
			rows = append(rows, fmt.Sprintf("| %s | %.1f | %s | %d | %s | %s | %s | %s | %s |", el.Round(time.Second), float64(procStatusKB(pid, "VmRSS:"))/1024,
				metricSum(mt, "go_goroutines"), len(fds), state,
				metricSum(mt, "shadowproxy_records_total", `sink="kafka"`, `outcome="written"`),
				metricSum(mt, "shadowproxy_records_total", `outcome="spooled"`),
				metricSum(mt, "shadowproxy_spool_records"),
				metricSum(mt, "shadowproxy_records_total", `outcome="dropped"`)))
			fmt.Fprintln(os.Stderr, rows[len(rows)-1])
		}
	}
}

// scrape reads shadowproxy's /metrics as text; "" when it cannot.
func scrape(admin string) string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return string(b)
}

// metricSum sums the samples of metric whose labels contain every one of labels (e.g.
// `outcome="spooled"`); "?" when the metrics text has none.
func metricSum(text, metric string, labels ...string) string {
	sum, found := 0.0, false
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		if i < 0 {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(rest[:i], l)
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(rest[i+1:]), 64); all && err == nil {
			sum, found = sum+v, true
		}
	}
	if !found {
		return "?"
	}
	return strconv.FormatFloat(sum, 'f', -1, 64)
}
