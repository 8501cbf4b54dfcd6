package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain runs the child's role when the test binary is re-executed as it.
func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(childEnv); ok {
		strategy, count, _ := strings.Cut(v, " ")
		n, _ := strconv.Atoi(count)
		if err := child(strategy, n, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestMeasures: each strategy wakes 20 times and reports figures: the
// child fails (and parent returns its error) unless it read all 20 bytes,
// and the report must parse. (What the figures are is a benchmark's
// business: make bench-wakeup.)
func TestMeasures(t *testing.T) {
	for _, strategy := range strategies {
		r, err := parent(strategy, 20, time.Millisecond)
		require.NoError(t, err, strategy)
		t.Logf("%s: %+v", strategy, r)
		// The figures are the benchmark's business: on a loaded machine
		// (CI, the race detector) schedstat may not move over 20 wake-ups
		// of 1 ms (it is brought up to date when a thread leaves its CPU).
		// What is checked: the child woke 20 times and reported, parsed.
		assert.GreaterOrEqual(t, r.us, 0.0, strategy)
		assert.GreaterOrEqual(t, r.runs, 0.0, strategy)
	}
}

// TestParse reads the Go children's report and the C twin's alike.
func TestParse(t *testing.T) {
	r, err := parse([]byte("C: 16.4 µs of CPU and 1.00 thread runs per wake-up; threads that ran: 1 (500 wake-ups)\n"))
	require.NoError(t, err)
	assert.Equal(t, result{us: 16.4, runs: 1, threads: 1}, r)
	r, err = parse([]byte("Go (fdio): 45.6 µs of CPU and 1.01 thread runs per wake-up; threads that ran: 2 (500 wake-ups)\n"))
	require.NoError(t, err)
	assert.Equal(t, result{us: 45.6, runs: 1.01, threads: 2}, r)
	_, err = parse([]byte("wakecost_c: read after 3 wake-ups\n"))
	assert.Error(t, err)
}

// TestMedian takes each figure's median separately.
func TestMedian(t *testing.T) {
	m := median([]result{{us: 30, runs: 1, threads: 1}, {us: 10, runs: 5, threads: 3}, {us: 20, runs: 2, threads: 2}})
	assert.Equal(t, result{us: 20, runs: 2, threads: 2}, m)
}
