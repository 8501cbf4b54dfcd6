package bench

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Target is one of the benchmark's goals (handouts/bench.md), checked
// against the medians.
type Target struct {
	What     string
	Measured string
	Met      bool
}

// Targets checks the medians against the kit's goals for the fork+shm
// server (design "shm"), compared with the epoll baseline (design "epoll").
// A goal whose samples are missing is reported as not measured.
func Targets(medians []Sample, classRate float64) []Target {
	var out []Target
	shm50, ok1 := Find(medians, "shm", 50, Saturate)
	ep50, ok2 := Find(medians, "epoll", 50, Saturate)
	t := Target{What: "fork+shm delivers at least half the deliveries per second of the epoll baseline at 50 clients, saturated"}
	if ok1 && ok2 && ep50.DeliveriesPerSec > 0 {
		ratio := shm50.DeliveriesPerSec / ep50.DeliveriesPerSec
		t.Measured = fmt.Sprintf("%.0f vs %.0f per second: %.2f of the baseline", shm50.DeliveriesPerSec, ep50.DeliveriesPerSec, ratio)
		t.Met = ratio >= 0.5 && !shm50.Failed()
	} else {
		t.Measured = "not measured"
	}
	out = append(out, t)

	out = append(out, p99Target(medians, "shm", "fork+shm p99 fan-out latency under 5 ms at class load: 200 clients, 50 messages per second in all", classRate))

	t = Target{What: "fork+shm with 500 clients: PSS under 2 MiB per client, and all 500 connected in under 5 s"}
	if s, ok := Find(medians, "shm", 500, Class); ok {
		t.Measured = fmt.Sprintf("%d KiB per client; connected in %.1f s (%.0f per second)", s.PSSPerClientKiB, s.ConnectSeconds, s.ConnectsPerSec)
		t.Met = s.PSSPerClientKiB < 2048 && s.ConnectSeconds < 5 && !s.Failed()
	} else {
		t.Measured = "not measured"
	}
	out = append(out, t)
	return append(out, twinTargets(medians, classRate)...)
}

// p99Target checks design's p99 at 200 clients under class load (50
// messages a second in all) against 5 ms.
func p99Target(medians []Sample, design, what string, classRate float64) Target {
	t := Target{What: what}
	if s, ok := Find(medians, design, 200, Class); ok && classRate == 50 {
		t.Measured = fmt.Sprintf("p99 %.2f ms (p50 %.2f ms)", s.P99ms, s.P50ms)
		t.Met = s.P99ms < 5 && !s.Failed()
	} else {
		t.Measured = "not measured (needs -n 200 with -rate 50)"
	}
	return t
}

// twinTargets checks the Go process-per-client servers against their C
// twins (designs "lab2-c" and "shm-c"), the goals of K11: the Go children
// wake at nearly the cost of C ones.
func twinTargets(medians []Sample, classRate float64) []Target {
	var out []Target
	for _, d := range []struct{ goName, cName, label string }{{"lab2", "lab2-c", "lab 2"}, {"shm", "shm-c", "lab 3"}} {
		t := Target{What: fmt.Sprintf("%s's Go server uses at most twice the CPU of its C twin at class load: 200 clients, 50 messages per second in all", d.label)}
		g, ok1 := Find(medians, d.goName, 200, Class)
		c, ok2 := Find(medians, d.cName, 200, Class)
		if ok1 && ok2 && classRate == 50 && c.CPUPercent > 0 {
			t.Measured = fmt.Sprintf("%.0f%% against %.0f%% of a core: %.1f times", g.CPUPercent, c.CPUPercent, g.CPUPercent/c.CPUPercent)
			t.Met = g.CPUPercent <= 2*c.CPUPercent && !g.Failed()
		} else {
			t.Measured = "not measured (needs -server " + d.cName + "=... and -n 200 with -rate 50)"
		}
		out = append(out, t)
	}
	out = append(out, p99Target(medians, "lab2", "lab 2's Go server: p99 fan-out latency under 5 ms at class load, 200 clients", classRate))
	// The saturated throughput at 50 clients before the children waited in
	// the runtime's poller (K11's issue, measured on the 2-core machine).
	for _, d := range []struct {
		name, label string
		before      float64
	}{{"lab2", "lab 2", 4.4e6}, {"shm", "lab 3", 3.6e6}} {
		t := Target{What: fmt.Sprintf("%s's Go server, saturated at 50 clients: no fewer deliveries per second than before (%.1f M)", d.label, d.before/1e6)}
		if s, ok := Find(medians, d.name, 50, Saturate); ok {
			t.Measured = fmt.Sprintf("%.2f M per second", s.DeliveriesPerSec/1e6)
			t.Met = s.DeliveriesPerSec >= d.before && !s.Failed()
		} else {
			t.Measured = "not measured"
		}
		out = append(out, t)
	}
	t := Target{What: "no message lost, duplicated or reordered (in the medians; chatbench fails outright on any run that loses one)"}
	lost, disorder := 0, 0
	for _, s := range medians {
		lost += s.Lost
		disorder += s.Disorder
	}
	t.Measured = fmt.Sprintf("%d lost, %d out of order", lost, disorder)
	t.Met = len(medians) > 0 && lost == 0 && disorder == 0
	return append(out, t)
}

// Machine describes the machine the benchmark runs on.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	var u unix.Utsname
	unix.Uname(&u)
	var si unix.Sysinfo_t
	unix.Sysinfo(&si)
	mem := float64(si.Totalram) * float64(si.Unit) / (1 << 30)
	return fmt.Sprintf("%s, %d cores, %.0f GiB; Linux %s; %s",
		model, runtime.NumCPU(), mem, unix.ByteSliceToString(u.Release[:]), runtime.Version())
}

// Markdown writes the generated part of handouts/bench.md: the machine it
// was measured on (as Machine describes it), the command, the targets and
// the table of medians.
func Markdown(medians []Sample, classRate float64, command, machine string, when time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured on %s, by `%s` (%s).\n\n", when.UTC().Format("2006-01-02"), command, machine)
	b.WriteString("![deliveries per second when saturated, and p99 latency under class load, against the number of clients](figures/bench.svg)\n\n")
	b.WriteString("| target | measured | |\n|---|---|---|\n")
	for _, t := range Targets(medians, classRate) {
		verdict := "missed"
		if t.Met {
			verdict = "met"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.What, t.Measured, verdict)
	}
	b.WriteString("\n| design | clients | mode | connects/s | deliveries/s | p50 ms | p99 ms | max ms | CPU % | PSS/client KiB | processes | lost | disorder |\n")
	b.WriteString("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range medians {
		fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %.0f | %.2f | %.2f | %.1f | %.0f | %d | %d | %d | %d |\n",
			s.Design, s.N, s.Mode, s.ConnectsPerSec, s.DeliveriesPerSec, s.P50ms, s.P99ms, s.Maxms, s.CPUPercent,
			s.PSSPerClientKiB, s.Processes, s.Lost, s.Disorder)
	}
	return b.String()
}

// The markers around the generated part of a document.
const (
	beginMark = "<!-- bench:begin (generated by make bench; edit outside the markers) -->"
	endMark   = "<!-- bench:end -->"
)

// The markers around the flood scenario's table.
const (
	floodBeginMark = "<!-- flood:begin (generated by make bench; edit outside the markers) -->"
	floodEndMark   = "<!-- flood:end -->"
)

// Splice replaces what stands between the markers in doc with generated,
// or appends the markers and generated if doc has none.
func Splice(doc []byte, generated string) []byte {
	return splice(doc, beginMark, endMark, generated)
}

// SpliceFlood is Splice for the flood scenario's markers.
func SpliceFlood(doc []byte, generated string) []byte {
	return splice(doc, floodBeginMark, floodEndMark, generated)
}

func splice(doc []byte, begin, end, generated string) []byte {
	block := begin + "\n" + generated + end
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		return append(doc, []byte("\n"+block+"\n")...)
	}
	return append(append(append([]byte{}, doc[:i]...), block...), doc[j+len(end):]...)
}
