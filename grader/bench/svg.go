package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// panel is one chart: a figure of the median samples of one mode, against
// the number of clients.
type panel struct {
	title string
	mode  Mode
	value func(Sample) float64
	unit  func(float64) string // a tick label
	log   bool                 // a logarithmic scale (latencies span decades)
}

// palette gives each design a colour, in the order designs are listed.
var palette = []string{"#1b6ca8", "#d1495b", "#2e8540", "#edae49", "#6a4c93"}

// SVG draws the medians as two charts side by side: deliveries per second
// when saturated, and p99 fan-out latency under class load, each against the
// number of clients (log scale), one line per design. A failed sample is
// drawn as a cross.
func SVG(w io.Writer, medians []Sample, classRate float64) error {
	panels := []panel{
		{title: "Saturated: deliveries per second", mode: Saturate,
			value: func(s Sample) float64 { return s.DeliveriesPerSec }, unit: kilo},
		{title: fmt.Sprintf("Class load (%g msg/s in all): p99 latency, ms", classRate), mode: Class,
			value: func(s Sample) float64 { return s.P99ms }, unit: func(v float64) string { return trim(v) }, log: true},
	}
	const pw, ph, left, top, bottom, gap = 420, 300, 60, 40, 50, 40
	width := 2*(left+pw) + gap + 20
	height := top + ph + bottom + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	ns := clients(medians)
	names := designs(medians)
	if len(ns) == 0 {
		return fmt.Errorf("bench: nothing to plot")
	}
	lo, hi := math.Log10(float64(ns[0])), math.Log10(float64(ns[len(ns)-1]))
	if hi-lo < 0.5 {
		lo, hi = lo-0.25, hi+0.25
	}
	for pi, p := range panels {
		x0 := left + pi*(left+pw+gap)
		xOf := func(n int) float64 { return float64(x0) + 10 + (math.Log10(float64(n))-lo)/(hi-lo)*float64(pw-20) }
		minV, maxV := math.Inf(1), 0.0
		for _, s := range medians {
			if s.Mode == p.mode {
				minV, maxV = math.Min(minV, p.value(s)), math.Max(maxV, p.value(s))
			}
		}
		var ticks []float64
		var yOf func(float64) float64
		if p.log { // whole decades around the values
			lo := math.Pow(10, math.Floor(math.Log10(math.Max(minV, 0.01))))
			hi := math.Pow(10, math.Ceil(math.Log10(math.Max(maxV, lo*10))))
			for v := lo; v <= hi*1.001; v *= 10 {
				ticks = append(ticks, v)
			}
			yOf = func(v float64) float64 {
				return float64(40+ph) - (math.Log10(math.Max(v, lo))-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*float64(ph)
			}
		} else {
			step := niceStep(maxV / 5)
			top := math.Max(step*math.Ceil(maxV/step), 1)
			for v := 0.0; v <= top+step/2; v += step {
				ticks = append(ticks, v)
			}
			yOf = func(v float64) float64 { return float64(40+ph) - v/top*float64(ph) }
		}
		fmt.Fprintf(&b, `<text x="%d" y="24" font-size="14" font-weight="bold">%s</text>`+"\n", x0, html.EscapeString(p.title))
		fmt.Fprintf(&b, `<rect x="%d" y="40" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", x0, pw, ph)
		for _, v := range ticks {
			y := yOf(v)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, x0, y, x0+pw, y)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, p.unit(v))
		}
		for _, n := range ns {
			x := xOf(n)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/>`, x, 40+ph, x, 45+ph)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", x, 60+ph, n)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">clients (log scale)</text>`+"\n", x0+pw/2, 80+ph)
		if p.log {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#555">log scale</text>`+"\n", x0+pw-6, 56)
		}
		for di, name := range names {
			color := palette[di%len(palette)]
			var pts []string
			for _, n := range ns {
				s, ok := Find(medians, name, n, p.mode)
				if !ok {
					continue
				}
				x, y := xOf(n), yOf(p.value(s))
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
				if s.Failed() {
					fmt.Fprintf(&b, `<path d="M%.1f %.1fl8 8m0 -8l-8 8" transform="translate(-4 -4)" stroke="%s" stroke-width="2"/>`+"\n", x, y, color)
				} else {
					fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", x, y, color)
				}
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), color)
		}
	}
	// The legend, under both panels.
	x := left
	for di, name := range names {
		color := palette[di%len(palette)]
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			x, height-16, color, x+18, height-11, html.EscapeString(name))
		x += 30 + 8*len(name)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">median of the runs; a cross marks a failed sample</text>`+"\n", x+20, height-11)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// kilo labels a count: in millions from a million up, in thousands from
// a thousand.
func kilo(v float64) string {
	if v >= 1e6 {
		return trim(v/1e6) + "M"
	}
	if v >= 1000 {
		return trim(v/1000) + "k"
	}
	return trim(v)
}

// trim prints v with at most two decimals and no trailing zeros.
func trim(v float64) string {
	s := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	if s == "" || s == "-0" {
		return "0"
	}
	return s
}
