package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatlab/grader/harness"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// servers are the three designs, built once, and a server that drops.
var servers = map[string]string{}

func TestMain(m *testing.M) { os.Exit(harness.Main(m, buildAll)) }

func buildAll(dir string) error {
	root := filepath.Join("..", "..")
	for name, pkg := range map[string]string{"lab2": "solutions/server", "shm": "solutions/shmserver", "epoll": "solutions/epollserver"} {
		path, err := harness.BuildGo(filepath.Join(root, pkg), dir, name)
		if err != nil {
			return err
		}
		servers[name] = path
	}
	out := filepath.Join(dir, "drop")
	if msg, err := exec.Command("gcc", "-O2", "-DDEFECT_DROP_BURST", "-o", out, filepath.Join(root, "solutions/c/serveur.c")).CombinedOutput(); err != nil {
		return fmt.Errorf("gcc: %v\n%s", err, msg)
	}
	servers["drop"] = out
	return nil
}

var short = Params{Rate: 50, Duration: time.Second, Burst: 16}

// TestEveryDesignDeliversEverything: in both modes, every message reaches
// every other client once, in order, and the figures are filled in.
func TestEveryDesignDeliversEverything(t *testing.T) {
	const n = 6
	for _, name := range []string{"lab2", "shm", "epoll"} {
		t.Run(name, func(t *testing.T) {
			got := Trial(Design{Name: name, Argv: []string{servers[name]}}, n, short, []Mode{Class, Saturate})
			require.Len(t, got, 2)
			for _, s := range got {
				t.Logf("%s %s: sent %d, %d deliveries (%.0f/s), p99 %.2f ms, CPU %.0f%%, PSS %d KiB per client, %d processes",
					name, s.Mode, s.Sent, s.Deliveries, s.DeliveriesPerSec, s.P99ms, s.CPUPercent, s.PSSPerClientKiB, s.Processes)
				assert.False(t, s.Failed(), "%+v", s)
				assert.Positive(t, s.Sent)
				assert.Equal(t, s.Sent*(n-1), s.Deliveries, "every message to every other client")
				assert.Positive(t, s.P99ms)
				assert.Positive(t, s.PSSKiB)
				assert.Positive(t, s.ConnectsPerSec)
			}
			assert.InDelta(t, short.Rate, float64(got[0].Sent)/short.Duration.Seconds(), short.Rate/2, "class mode keeps its rate")
			assert.Greater(t, got[1].Sent, got[0].Sent, "saturate mode sends more than the class")
			if name == "epoll" {
				assert.Equal(t, 1, got[0].Processes)
			} else {
				assert.Equal(t, n+1, got[0].Processes)
			}
		})
	}
}

// TestLossIsReported: a server that drops what exceeds 100 lines per second
// per client is caught when saturated.
func TestLossIsReported(t *testing.T) {
	got := Trial(Design{Name: "drop", Argv: []string{servers["drop"]}}, 6, short, []Mode{Saturate})
	require.Len(t, got, 1)
	t.Logf("sent %d, %d deliveries, lost %d", got[0].Sent, got[0].Deliveries, got[0].Lost)
	assert.Positive(t, got[0].Lost)
	assert.True(t, got[0].Failed())
}

// TestBrokenServerCommand: a server that cannot start is a failed sample,
// not a crash.
func TestBrokenServerCommand(t *testing.T) {
	got := Trial(Design{Name: "false", Argv: []string{"/bin/false"}}, 2, short, []Mode{Class})
	require.Len(t, got, 1)
	assert.True(t, got[0].Failed())
	assert.Contains(t, got[0].Error, "exited")
}

func TestParse(t *testing.T) {
	from, mark, seq, at, ok := parse([]byte("user12: s 7 123456789\n"))
	assert.True(t, ok)
	assert.Equal(t, []any{12, byte('s'), 7, int64(123456789)}, []any{from, mark, seq, at})
	for _, bad := range []string{"* user3 joined\n", "user1: hello\n", "user1: s 7\n", "userx: s 1 2\n"} {
		_, _, _, _, ok := parse([]byte(bad))
		assert.False(t, ok, bad)
	}
}

func TestMedians(t *testing.T) {
	var in []Sample
	for i, v := range []float64{30, 10, 20} {
		in = append(in, Sample{Design: "a", N: 5, Mode: Class, Runs: 1, DeliveriesPerSec: v, P99ms: v / 10, Lost: i})
	}
	in = append(in, Sample{Design: "b", N: 5, Mode: Class, Runs: 1, DeliveriesPerSec: 7})
	m := Medians(in)
	require.Len(t, m, 2)
	assert.Equal(t, 20.0, m[0].DeliveriesPerSec)
	assert.Equal(t, 2.0, m[0].P99ms)
	assert.Equal(t, 3, m[0].Runs)
	assert.Equal(t, 3, m[0].Lost, "losses are summed, not averaged away")
	assert.True(t, m[0].Failed())
	assert.Equal(t, 7.0, m[1].DeliveriesPerSec)
	assert.Equal(t, 2.5, median([]float64{1, 4, 2, 3}))
}

func TestSVGAndDocument(t *testing.T) {
	var med []Sample
	for _, d := range []string{"lab2", "shm", "epoll"} {
		for _, n := range []int{5, 50, 200, 500} {
			med = append(med, Sample{Design: d, N: n, Mode: Saturate, Runs: 3, DeliveriesPerSec: float64(1000 * n)},
				Sample{Design: d, N: n, Mode: Class, Runs: 3, P99ms: 1 + float64(n)/100, PSSPerClientKiB: 900, ConnectSeconds: 2})
		}
	}
	med[0].Lost = 1
	var b bytes.Buffer
	require.NoError(t, SVG(&b, med, 50))
	dec := xml.NewDecoder(&b)
	lines, crosses := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "polyline":
				lines++
			case "path":
				crosses++
			}
		}
	}
	assert.Equal(t, 6, lines, "a line per design in each of two charts")
	assert.Equal(t, 1, crosses, "the failed sample is marked")

	md := Markdown(med, 50, "make bench", "the machine", time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	assert.Contains(t, md, "(the machine)")
	assert.Contains(t, md, "| shm | 500 | class |")
	assert.Contains(t, md, "figures/bench.svg")
	assert.Equal(t, 4, strings.Count(md, "| met |"), md) // the three of the fork+shm server, and nothing lost (no C twins here: theirs are not measured)
	doc := Splice([]byte("# Bench\n\nprose\n"), md)
	again := Splice(append(doc, "more prose\n"...), "new\n")
	assert.Contains(t, string(again), "prose\n")
	assert.Contains(t, string(again), "more prose\n")
	assert.Contains(t, string(again), beginMark+"\nnew\n"+endMark)
	assert.NotContains(t, string(again), "| shm | 500 |")
}

// TestTwinTargets: the Go servers are judged against their C twins at 200
// clients (twice the CPU at most), on p99 and on saturated throughput; a
// twin missing is "not measured", never met.
func TestTwinTargets(t *testing.T) {
	medians := []Sample{
		{Design: "lab2", N: 200, Mode: Class, CPUPercent: 15, P99ms: 4},
		{Design: "lab2-c", N: 200, Mode: Class, CPUPercent: 8},
		{Design: "shm", N: 200, Mode: Class, CPUPercent: 30},
		{Design: "shm-c", N: 200, Mode: Class, CPUPercent: 10},
		{Design: "lab2", N: 50, Mode: Saturate, DeliveriesPerSec: 5e6},
		{Design: "shm", N: 50, Mode: Saturate, DeliveriesPerSec: 3e6},
	}
	ts := twinTargets(medians, 50)
	require.Len(t, ts, 6)
	assert.True(t, ts[0].Met, "lab 2: 15%% against 8%%: %+v", ts[0])
	assert.False(t, ts[1].Met, "lab 3: 30%% against 10%%: %+v", ts[1])
	assert.Contains(t, ts[1].Measured, "3.0 times")
	assert.True(t, ts[2].Met, "lab 2's p99 of 4 ms")
	assert.True(t, ts[3].Met, "lab 2 saturated: 5 M >= 4.4 M")
	assert.False(t, ts[4].Met, "lab 3 saturated: 3 M < 3.6 M")
	assert.True(t, ts[5].Met, "nothing lost")

	none := twinTargets(medians[:1], 50)
	assert.False(t, none[0].Met)
	assert.Contains(t, none[0].Measured, "not measured")
}
