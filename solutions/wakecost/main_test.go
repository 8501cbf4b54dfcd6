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

// TestMeasures: each strategy wakes 20 times and reports figures. (What the
// figures are is a benchmark's business: make bench-wakeup.)
func TestMeasures(t *testing.T) {
	for _, strategy := range []string{"syscall", "fdio"} {
		var out strings.Builder
		require.NoError(t, parent(strategy, 20, time.Millisecond, &out))
		t.Log(out.String())
		var name string
		var us, runs float64
		var threads, n int
		_, err := fmt.Sscanf(out.String(), "Go (%s %f µs of CPU and %f thread runs per wake-up; threads that ran: %d (%d wake-ups)", &name, &us, &runs, &threads, &n)
		require.NoError(t, err, out.String())
		assert.Equal(t, strategy+"):", name)
		assert.Equal(t, 20, n)
		assert.Positive(t, us)
		assert.Positive(t, runs, "its threads ran")
		assert.Positive(t, threads)
	}
}
