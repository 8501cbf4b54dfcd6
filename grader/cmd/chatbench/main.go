// Command chatbench loads chat servers and measures what each delivers and
// costs (package chatlab/grader/bench says how).
//
//	chatbench -server NAME=CMD [-server NAME=CMD ...] [-n 5,50,200,500]
//	          [-mode class,saturate] [-rate R] [-duration D] [-runs K]
//	          [-json FILE] [-csv FILE] [-svg FILE] [-doc FILE]
//	chatbench -server NAME=CMD ... -flood READERS [-limits "none;-max-rate 20"]
//	          [-duration D] [-runs K] [-fair D] [-doc FILE]
//
// With -flood, it runs the flood scenario instead (bench.Flood): READERS
// clients that read as fast as they can, a talker, and a flooder (yes | nc),
// against every design, once per set of server flags in -limits. It reports
// kicks, the talker's latency at the readers and the server's peak memory.
// With -fair D, the exit status is 1 if anyone was kicked, a talker's line
// was lost, or, under a limit, one took longer than D to reach every reader.
//
// For each of K rounds, it runs one trial of every design at every N, the
// designs interleaved (their order rotating from round to round), so that a
// noisy machine disturbs them alike; it prints the median of each figure
// over the rounds. Any loss, duplicate or reordering marks a sample failed
// and the exit status is 1; 2 means chatbench could not run.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"chatlab/grader/bench"
	"chatlab/grader/harness"
	"chatlab/grader/report"
)

func main() { os.Exit(run()) }

func run() int {
	var designs []bench.Design
	flag.Func("server", "a server to load, as `NAME=CMD` (or CMD, named after its file); repeat to compare several", func(v string) error {
		name, cmd, ok := strings.Cut(v, "=")
		if !ok || strings.ContainsAny(name, " /") {
			name, cmd = "", v
		}
		argv := strings.Fields(cmd)
		if len(argv) == 0 {
			return fmt.Errorf("empty command")
		}
		if name == "" {
			name = filepath.Base(argv[0])
		}
		designs = append(designs, bench.Design{Name: name, Argv: argv})
		return nil
	})
	ns := flag.String("n", "10", "numbers of clients, comma-separated")
	modes := flag.String("mode", "class,saturate", "modes, comma-separated: class (a fixed rate, as a class types) and saturate (as fast as the server takes)")
	rate := flag.Float64("rate", 50, "class mode: messages per second, all clients together")
	duration := flag.Duration("duration", 3*time.Second, "how long each mode sends, per trial")
	burst := flag.Int("burst", 16, "saturate mode: lines per write, each client waiting for its last burst to reach everyone")
	runs := flag.Int("runs", 3, "rounds: each figure is the median over them")
	jsonPath := flag.String("json", "", "write every sample and the medians to `FILE` as JSON")
	csvPath := flag.String("csv", "", "write the medians to `FILE` as CSV")
	svgPath := flag.String("svg", "", "draw the medians in `FILE` (SVG): throughput and p99 latency against clients")
	docPath := flag.String("doc", "", "write the machine, command, targets and table into `FILE` between its bench markers")
	reproduce := flag.String("reproduce", "", "with -doc: the command that reproduces this run (make bench), for the document")
	floodReaders := flag.Int("flood", 0, "run the flood scenario with this many readers (0: the class and saturate modes)")
	limits := flag.String("limits", "none", "flood scenario: sets of server flags, ;-separated (none: no flags)")
	talkEvery := flag.Duration("talk-every", 100*time.Millisecond, "flood scenario: the talker sends one line this often")
	from := flag.String("from", "", "measure nothing: write -csv, -svg and -doc from the -json record `FILE` of an earlier run (after a change of the targets or the layout)")
	fair := flag.Duration("fair", 0, "flood scenario: fail unless nobody is kicked, nothing the talker says is lost, and under a limit each of its lines reaches every reader within this long")
	flag.Parse()
	usage := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "chatbench: "+format+"\n", a...)
		flag.Usage()
		return 2
	}
	if *from != "" {
		return rerender(*from, *csvPath, *svgPath, *docPath, *reproduce)
	}
	if len(designs) == 0 || flag.NArg() > 0 {
		return usage("name at least one -server, and nothing else")
	}
	if *floodReaders > 0 {
		if *runs < 1 || *duration <= 0 || *talkEvery <= 0 {
			return usage("-runs, -duration and -talk-every must be positive")
		}
		if err := harness.Init(); err != nil {
			return usage("%v", err)
		}
		return runFlood(designs, *limits, bench.FloodParams{Readers: *floodReaders, Duration: *duration, TalkEvery: *talkEvery}, *runs, *fair, *docPath, *reproduce)
	}
	var clients []int
	for _, f := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return usage("-n %q: want numbers of clients, each at least 2", *ns)
		}
		clients = append(clients, n)
	}
	var ms []bench.Mode
	for _, f := range strings.Split(*modes, ",") {
		m := bench.Mode(strings.TrimSpace(f))
		if m != bench.Class && m != bench.Saturate {
			return usage("-mode %q: want class, saturate or both", *modes)
		}
		ms = append(ms, m)
	}
	if *rate <= 0 || *runs < 1 || *duration <= 0 {
		return usage("-rate, -runs and -duration must be positive")
	}
	if err := harness.Init(); err != nil {
		return usage("%v", err)
	}
	p := bench.Params{Rate: *rate, Duration: *duration, Burst: *burst}

	started := time.Now()
	var samples []bench.Sample
	for round := range *runs {
		for _, n := range clients {
			for k := range designs {
				d := designs[(k+round)%len(designs)] // rotate who goes first
				got := bench.Trial(d, n, p, ms)
				for _, s := range got {
					verdict := "ok"
					if s.Failed() {
						verdict = "FAILED"
					}
					fmt.Fprintf(os.Stderr, "round %d/%d  %-8s %4d clients  %-8s  %9.0f deliveries/s  p99 %7.2f ms  lost %d  %s\n",
						round+1, *runs, s.Design, s.N, s.Mode, s.DeliveriesPerSec, s.P99ms, s.Lost, verdict)
				}
				samples = append(samples, got...)
			}
		}
	}
	harness.SweepOrphans()
	medians := bench.Medians(samples)
	sortLike(medians, designs)
	fmt.Printf("medians of %d rounds (%v in all):\n", *runs, time.Since(started).Round(time.Second))
	bench.Table(os.Stdout, medians)

	var shown []string // the command line, without -reproduce (said apart)
	for i := 1; i < len(os.Args); i++ {
		if a := os.Args[i]; a == "-reproduce" || a == "--reproduce" {
			i++
		} else if !strings.HasPrefix(a, "-reproduce=") && !strings.HasPrefix(a, "--reproduce=") {
			shown = append(shown, a)
		}
	}
	command := "chatbench " + strings.Join(shown, " ")
	if *jsonPath != "" {
		rec := record{bench.Machine(), command, started, p, samples, medians}
		if err := report.WriteJSON(*jsonPath, rec); err != nil {
			return usage("%v", err)
		}
	}
	if err := writeOutputs(medians, p.Rate, command, bench.Machine(), started, *csvPath, *svgPath, *docPath, *reproduce); err != nil {
		return usage("%v", err)
	}
	for _, s := range medians {
		if s.Failed() {
			fmt.Println("FAILED: a server lost, duplicated or reordered messages, or a trial could not finish (see above)")
			return 1
		}
	}
	return 0
}

// record is what -json writes and -from reads.
type record struct {
	Machine string         `json:"machine"`
	Command string         `json:"command"`
	Started time.Time      `json:"started"`
	Params  bench.Params   `json:"params"`
	Samples []bench.Sample `json:"samples"`
	Medians []bench.Sample `json:"medians"`
}

// rerender writes the outputs of the run recorded in path (-from).
func rerender(path, csvPath, svgPath, docPath, reproduce string) int {
	b, err := os.ReadFile(path)
	var rec record
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "chatbench: -from %s: %v\n", path, err)
		return 2
	}
	if err := writeOutputs(rec.Medians, rec.Params.Rate, rec.Command, rec.Machine, rec.Started, csvPath, svgPath, docPath, reproduce); err != nil {
		fmt.Fprintf(os.Stderr, "chatbench: %v\n", err)
		return 2
	}
	bench.Table(os.Stdout, rec.Medians)
	return 0
}

// writeOutputs writes the medians as CSV, SVG and into the document's bench
// markers (with the machine they were measured on), for the paths that are
// not empty.
func writeOutputs(medians []bench.Sample, rate float64, command, machine string, started time.Time, csvPath, svgPath, docPath, reproduce string) error {
	for _, out := range []struct {
		path  string
		write func(*os.File) error
	}{
		{csvPath, func(f *os.File) error { return bench.CSV(f, medians) }},
		{svgPath, func(f *os.File) error { return bench.SVG(f, medians, rate) }},
	} {
		if out.path == "" {
			continue
		}
		if err := writeFile(out.path, out.write); err != nil {
			return err
		}
	}
	if docPath != "" {
		doc, err := os.ReadFile(docPath)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		if reproduce != "" {
			command = reproduce + "`, which runs `" + command
		}
		md := bench.Markdown(medians, rate, command, machine, started)
		if err := os.WriteFile(docPath, bench.Splice(doc, md), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sortLike orders medians by design as the -server flags were given, then
// by clients, then mode.
func sortLike(medians []bench.Sample, designs []bench.Design) {
	rank := func(name string) int {
		return slices.IndexFunc(designs, func(d bench.Design) bool { return d.Name == name })
	}
	slices.SortStableFunc(medians, func(a, b bench.Sample) int {
		if r := rank(a.Design) - rank(b.Design); r != 0 {
			return r
		}
		if a.N != b.N {
			return a.N - b.N
		}
		return strings.Compare(string(a.Mode), string(b.Mode))
	})
}

// writeFile creates path and writes it with write.
func writeFile(path string, write func(*os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runFlood runs the flood scenario K times for every design and set of
// flags, interleaved, and prints (and with doc, writes) the medians.
func runFlood(designs []bench.Design, limits string, p bench.FloodParams, runs int, fair time.Duration, doc, reproduce string) int {
	var sets [][]string
	for _, l := range strings.Split(limits, ";") {
		if l = strings.TrimSpace(l); l == "none" || l == "" {
			sets = append(sets, nil)
		} else {
			sets = append(sets, strings.Fields(l))
		}
	}
	started := time.Now()
	var samples []bench.FloodSample
	for round := range runs {
		for k := range designs {
			d := designs[(k+round)%len(designs)]
			for _, set := range sets {
				s := bench.Flood(d, set, p)
				fmt.Fprintf(os.Stderr, "round %d/%d  %-8s %-16q %d readers: flood %6.0f lines/s per reader, kicked %d, talker p50 %.1f p99 %.1f max %.1f ms, lost %d, peak %.1f MiB %s\n",
					round+1, runs, s.Design, s.Limit, s.Readers, s.FloodPerSec, s.Kicked, s.P50ms, s.P99ms, s.Maxms, s.Lost, float64(s.PeakPSSKiB)/1024, s.Error)
				samples = append(samples, s)
			}
		}
	}
	harness.SweepOrphans()
	medians := bench.FloodMedians(samples)
	var b strings.Builder
	bench.FloodTable(&b, medians)
	fmt.Printf("flood scenario, medians of %d rounds (%v in all):\n%s", runs, time.Since(started).Round(time.Second), b.String())
	if doc != "" {
		old, err := os.ReadFile(doc)
		if err != nil && !os.IsNotExist(err) {
			fmt.Fprintln(os.Stderr, "chatbench:", err)
			return 2
		}
		command := "chatbench " + strings.Join(os.Args[1:], " ")
		if reproduce != "" {
			command = reproduce
		}
		md := fmt.Sprintf("Measured on %s, by `%s` (%s): %d readers, a talker sending a line every %v, a flooder for %v; medians of %d runs (kicks and losses: summed over them).\n\n%s",
			started.UTC().Format("2006-01-02"), command, bench.Machine(), p.Readers, p.TalkEvery, p.Duration, runs, b.String())
		if err := os.WriteFile(doc, bench.SpliceFlood(old, md), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "chatbench:", err)
			return 2
		}
	}
	status := 0
	for _, s := range medians {
		switch {
		case s.Error != "":
			fmt.Printf("FAILED: %s %q: %s\n", s.Design, s.Limit, s.Error)
			status = 1
		case fair > 0 && (s.Kicked > 0 || s.Lost > 0):
			fmt.Printf("FAILED: %s %q: %d kicked, %d of the talker's deliveries lost\n", s.Design, s.Limit, s.Kicked, s.Lost)
			status = 1
		case fair > 0 && s.Limit != "" && s.Maxms > float64(fair.Milliseconds()):
			fmt.Printf("FAILED: %s %q: a talker's line took %.0f ms to reach a reader (at most %v)\n", s.Design, s.Limit, s.Maxms, fair)
			status = 1
		}
	}
	return status
}
