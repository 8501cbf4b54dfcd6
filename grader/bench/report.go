package bench

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Medians groups samples by design, N and mode, in the order first seen,
// and returns one sample per group holding the median of each figure. The
// signs of a broken server are not averaged away: losses, disorder and
// zombies are summed over the runs and errors kept.
func Medians(samples []Sample) []Sample {
	type key struct {
		design string
		n      int
		mode   Mode
	}
	var order []key
	groups := map[key][]Sample{}
	for _, s := range samples {
		k := key{s.Design, s.N, s.Mode}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	var out []Sample
	for _, k := range order {
		g := groups[k]
		m := Sample{Design: k.design, N: k.n, Mode: k.mode, Runs: len(g)}
		f := func(get func(Sample) float64) float64 {
			var v []float64
			for _, s := range g {
				v = append(v, get(s))
			}
			return median(v)
		}
		i := func(get func(Sample) int64) int64 { return int64(f(func(s Sample) float64 { return float64(get(s)) })) }
		m.ConnectSeconds = f(func(s Sample) float64 { return s.ConnectSeconds })
		m.ConnectsPerSec = f(func(s Sample) float64 { return s.ConnectsPerSec })
		m.Sent = int(i(func(s Sample) int64 { return int64(s.Sent) }))
		m.Deliveries = int(i(func(s Sample) int64 { return int64(s.Deliveries) }))
		m.DeliveriesPerSec = f(func(s Sample) float64 { return s.DeliveriesPerSec })
		m.P50ms = f(func(s Sample) float64 { return s.P50ms })
		m.P99ms = f(func(s Sample) float64 { return s.P99ms })
		m.Maxms = f(func(s Sample) float64 { return s.Maxms })
		m.CPUPercent = f(func(s Sample) float64 { return s.CPUPercent })
		m.PSSKiB = i(func(s Sample) int64 { return s.PSSKiB })
		m.PSSPerClientKiB = i(func(s Sample) int64 { return s.PSSPerClientKiB })
		m.Processes = int(i(func(s Sample) int64 { return int64(s.Processes) }))
		var errs []string
		for _, s := range g {
			m.Lost += s.Lost
			m.Disorder += s.Disorder
			m.Zombies += s.Zombies
			if s.Error != "" && !slices.Contains(errs, s.Error) {
				errs = append(errs, s.Error)
			}
		}
		m.Error = strings.Join(errs, "; ")
		out = append(out, m)
	}
	return out
}

// median returns the middle value (the mean of the two middle ones for an
// even count).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Table prints samples as an aligned table.
func Table(w io.Writer, samples []Sample) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "design\tclients\tmode\truns\tconnects/s\tdeliveries/s\tp50 ms\tp99 ms\tmax ms\tCPU %\tPSS/client KiB\tprocesses\tlost\tdisorder\tverdict\t")
	for _, s := range samples {
		verdict := "ok"
		if s.Failed() {
			verdict = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%.0f\t%.0f\t%.2f\t%.2f\t%.1f\t%.0f\t%d\t%d\t%d\t%d\t%s\t\n",
			s.Design, s.N, s.Mode, s.Runs, s.ConnectsPerSec, s.DeliveriesPerSec, s.P50ms, s.P99ms, s.Maxms,
			s.CPUPercent, s.PSSPerClientKiB, s.Processes, s.Lost, s.Disorder, verdict)
	}
	tw.Flush()
	for _, s := range samples {
		if s.Error != "" {
			fmt.Fprintf(w, "%s, %d clients, %s: %s\n", s.Design, s.N, s.Mode, s.Error)
		}
	}
}

// csvHeader names CSV's columns, in Sample's order.
var csvHeader = []string{"design", "clients", "mode", "runs", "connect_seconds", "connects_per_second",
	"messages_sent", "deliveries", "deliveries_per_second", "latency_p50_ms", "latency_p99_ms", "latency_max_ms",
	"cpu_percent", "pss_kib", "pss_per_client_kib", "processes", "lost", "disorder", "zombies", "error"}

// CSV writes samples as CSV with a header line.
func CSV(w io.Writer, samples []Sample) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	ff := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, s := range samples {
		cw.Write([]string{s.Design, strconv.Itoa(s.N), string(s.Mode), strconv.Itoa(s.Runs), ff(s.ConnectSeconds), ff(s.ConnectsPerSec),
			strconv.Itoa(s.Sent), strconv.Itoa(s.Deliveries), ff(s.DeliveriesPerSec), ff(s.P50ms), ff(s.P99ms), ff(s.Maxms),
			ff(s.CPUPercent), strconv.FormatInt(s.PSSKiB, 10), strconv.FormatInt(s.PSSPerClientKiB, 10), strconv.Itoa(s.Processes),
			strconv.Itoa(s.Lost), strconv.Itoa(s.Disorder), strconv.Itoa(s.Zombies), s.Error})
	}
	cw.Flush()
	return cw.Error()
}

// Find returns the median sample of design at n clients in mode m.
func Find(medians []Sample, design string, n int, m Mode) (Sample, bool) {
	i := slices.IndexFunc(medians, func(s Sample) bool { return s.Design == design && s.N == n && s.Mode == m })
	if i < 0 {
		return Sample{}, false
	}
	return medians[i], true
}

// designs and clients list what the samples hold, in order.
func designs(samples []Sample) []string {
	var out []string
	for _, s := range samples {
		if !slices.Contains(out, s.Design) {
			out = append(out, s.Design)
		}
	}
	return out
}

func clients(samples []Sample) []int {
	var out []int
	for _, s := range samples {
		if !slices.Contains(out, s.N) {
			out = append(out, s.N)
		}
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}
