package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"chatlab/grader/bench"
	"chatlab/grader/report"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRerender: -from writes the document's table and targets from a
// -json record, measuring nothing.
func TestRerender(t *testing.T) {
	dir := t.TempDir()
	medians := []bench.Sample{
		{Design: "lab2", N: 200, Mode: bench.Class, CPUPercent: 15, P99ms: 4, DeliveriesPerSec: 9900},
		{Design: "lab2-c", N: 200, Mode: bench.Class, CPUPercent: 5, P99ms: 3, DeliveriesPerSec: 9900},
	}
	rec := record{Machine: "m", Command: "chatbench -n 200", Started: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Params: bench.Params{Rate: 50}, Samples: medians, Medians: medians}
	recPath := filepath.Join(dir, "bench.json")
	require.NoError(t, report.WriteJSON(recPath, rec))
	doc := filepath.Join(dir, "bench.md")
	require.NoError(t, os.WriteFile(doc, []byte("# before\n"), 0o644))
	require.Equal(t, 0, rerender(recPath, filepath.Join(dir, "b.csv"), "", doc, "make bench"))
	b, err := os.ReadFile(doc)
	require.NoError(t, err)
	assert.Contains(t, string(b), "# before\n")
	assert.Contains(t, string(b), "Measured on 2026-12-01, by `make bench`, which runs `chatbench -n 200` (m).", "the recorded machine, not this one")
	assert.Contains(t, string(b), "| lab2-c | 200 | class |")
	assert.Contains(t, string(b), "15% against 5% of a core: 3.0 times | missed |")
	assert.FileExists(t, filepath.Join(dir, "b.csv"))
	assert.Equal(t, 2, rerender(filepath.Join(dir, "none.json"), "", "", doc, ""))
}
