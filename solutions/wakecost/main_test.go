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
		n, _ := strconv.Atoi(v)
		if err := child(n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMeasures(t *testing.T) {
	var out strings.Builder
	require.NoError(t, parent(20, time.Millisecond, &out))
	t.Log(out.String())
	var us float64
	var n int
	_, err := fmt.Sscanf(out.String(), "Go: %f µs of CPU per wake-up (%d wake-ups)", &us, &n)
	require.NoError(t, err, out.String())
	assert.Equal(t, 20, n)
	assert.Positive(t, us)
}
