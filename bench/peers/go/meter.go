package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// meter is the measuring part of the peer, kept apart from the consumer a team would write (the JS
// peers' meter.mjs): it times the peer from its first stored event until it stored `events` or
// `max` passed, and reports CPU (getrusage, user + system) over the same span and the peak RSS.
type meter struct {
	events int64
	max    time.Duration
	done   chan struct{}

	mu       sync.Mutex
	count    int64
	firstAt  time.Time
	firstCPU time.Duration
	doneAt   time.Time
	doneCPU  time.Duration
}

func newMeter(events int64, max time.Duration) *meter {
	return &meter{events: events, max: max, done: make(chan struct{})}
}

// stored is called after each committed transaction, with how many events it stored.
func (m *meter) stored(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.doneAt.IsZero() || n == 0 {
		return
	}
	now := time.Now()
	if m.firstAt.IsZero() {
		m.firstAt, m.firstCPU = now, cpuTime()
	}
	m.count += int64(n)
	if m.count >= m.events || now.Sub(m.firstAt) >= m.max {
		m.doneAt, m.doneCPU = now, cpuTime()
		close(m.done)
	}
}

// report prints {events, seconds, cpuSeconds, peakRssMb} as one JSON line.
func (m *meter) report(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	peak, err := peakRssMb()
	if err != nil {
		return err
	}
	line, err := json.Marshal(map[string]any{
		"events":     m.count,
		"seconds":    m.doneAt.Sub(m.firstAt).Seconds(),
		"cpuSeconds": (m.doneCPU - m.firstCPU).Seconds(),
		"peakRssMb":  peak,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var vmHWM = regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB`)

// peakRssMb reads VmHWM, not getrusage's maxrss: Linux carries ru_maxrss over an exec, so a child
// would report its parent's peak instead of its own.
func peakRssMb() (int64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	match := vmHWM.FindSubmatch(status)
	if match == nil {
		return 0, fmt.Errorf("no VmHWM in /proc/self/status")
	}
	kb, err := strconv.ParseInt(string(match[1]), 10, 64)
	return (kb + 512) / 1024, err
}
