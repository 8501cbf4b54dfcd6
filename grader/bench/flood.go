package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatlab/grader/harness"
)

// FloodParams is the flood scenario: what one `yes | nc HOST 5015` does to
// a room. Readers clients read as fast as they can; a talker sends one
// line every TalkEvery, as a person typing; a flooder writes "y\n" lines as
// fast as the server takes them, and reads what it is sent, as nc does.
type FloodParams struct {
	Readers   int
	Duration  time.Duration // how long the flooder floods and the talker talks
	TalkEvery time.Duration
}

// FloodSample is what one flood trial measured.
type FloodSample struct {
	Design string `json:"design"`
	Limit  string `json:"limit"` // the server's flow flags, "" for none
	// Readers is the number of reading clients.
	Readers int `json:"readers"`
	Runs    int `json:"runs"`

	FloodLines  int     `json:"flood_lines"`   // lines the flooder got into the server's socket
	FloodPerSec float64 `json:"flood_per_sec"` // flood lines each reader received, per second
	Talked      int     `json:"talked"`        // the talker's lines
	Heard       int     `json:"heard"`         // the talker's lines the readers received, all together
	Lost        int     `json:"lost"`          // Talked*Readers - Heard: deliveries that never came
	Kicked      int     `json:"kicked"`        // clients kicked ("* userN kicked"), or whose connection ended
	P50ms       float64 `json:"talker_p50_ms"` // the talker's lines, sent to received, over every reader
	P99ms       float64 `json:"talker_p99_ms"`
	Maxms       float64 `json:"talker_max_ms"`
	PeakPSSKiB  int64   `json:"peak_pss_kib"` // the server tree's largest proportional set size, sampled every 100 ms
	Error       string  `json:"error,omitempty"`
}

// Failed reports a flood trial that could not finish, or in which the
// talker's lines were lost.
func (s FloodSample) Failed() bool { return s.Error != "" || s.Lost > 0 }

// floodConn is one client of the flood scenario.
type floodConn struct {
	conn  *net.TCPConn
	id    int
	ended atomic.Bool // the connection ended before the trial did
}

// Flood runs the flood scenario once on design d, started with the extra
// flags limit (for example "-max-rate", "20").
func Flood(d Design, limit []string, p FloodParams) FloodSample {
	out := FloodSample{Design: d.Name, Limit: strings.Join(limit, " "), Readers: p.Readers, Runs: 1}
	fail := func(err error) FloodSample { out.Error = err.Error(); return out }
	srv, port, err := startServer(d, p.Readers+8, limit...)
	if err != nil {
		return fail(err)
	}
	defer srv.KillTree()
	epoch := time.Now()
	var conns []*floodConn
	defer func() {
		for _, c := range conns {
			c.conn.SetLinger(0)
			c.conn.Close()
		}
	}()
	for i := range p.Readers + 2 { // readers, then the talker, then the flooder
		c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(port), 10*time.Second)
		if err != nil {
			return fail(fmt.Errorf("client %d: %w", i+1, err))
		}
		fc := &floodConn{conn: c.(*net.TCPConn)}
		conns = append(conns, fc)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var line [64]byte
		n, err := readLine(c, line[:])
		if _, perr := fmt.Sscanf(string(line[:n]), "* welcome user%d\n", &fc.id); err == nil && perr != nil {
			err = fmt.Errorf("first line %q", line[:n])
		}
		if err != nil {
			return fail(fmt.Errorf("client %d: welcome: %w", i+1, err))
		}
		c.SetReadDeadline(time.Time{})
	}
	readers, talker, flooder := conns[:p.Readers], conns[p.Readers], conns[p.Readers+1]

	var (
		mu     sync.Mutex
		lat    []int32
		kicked = map[int]bool{}
		heard  atomic.Int64
		flood  atomic.Int64
		wg     sync.WaitGroup
	)
	talkPrefix := []byte(fmt.Sprintf("user%d: t ", talker.id))
	floodPrefix := []byte(fmt.Sprintf("user%d: ", flooder.id))
	for _, c := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := bufio.NewReaderSize(c.conn, 64<<10)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					c.ended.Store(true)
					return
				}
				switch {
				case bytes.HasPrefix(line, floodPrefix):
					flood.Add(1)
				case bytes.HasPrefix(line, talkPrefix):
					f := strings.Fields(string(line[len(talkPrefix):]))
					if len(f) == 2 {
						at, _ := strconv.ParseInt(f[1], 10, 64)
						d := time.Since(epoch).Nanoseconds() - at
						mu.Lock()
						lat = append(lat, int32(min(d/1000, 1<<31-1)))
						mu.Unlock()
						heard.Add(1)
					}
				case bytes.HasSuffix(line, []byte(" kicked: too slow\n")):
					var id int
					if _, err := fmt.Sscanf(string(line), "* user%d kicked", &id); err == nil {
						mu.Lock()
						kicked[id] = true
						mu.Unlock()
					}
				}
			}
		}()
	}
	for _, c := range []*floodConn{talker, flooder} { // both read what they are sent, as nc does
		go func() {
			buf := make([]byte, 64<<10)
			for {
				if _, err := c.conn.Read(buf); err != nil {
					c.ended.Store(true)
					return
				}
			}
		}()
	}

	stop := time.Now().Add(p.Duration)
	done := make(chan struct{})
	var peak atomic.Int64
	go func() { // the server's memory, while it lasts
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if kib, _, _ := tree(srv.Pid); kib > peak.Load() {
				peak.Store(kib)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var floodBytes atomic.Int64
	go func() { // yes | nc
		chunk := bytes.Repeat([]byte("y\n"), 32<<10)
		flooder.conn.SetWriteDeadline(stop)
		for time.Now().Before(stop) {
			n, err := flooder.conn.Write(chunk)
			floodBytes.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	talked := 0
	tick := time.NewTicker(p.TalkEvery)
	for time.Now().Before(stop) {
		<-tick.C
		msg := fmt.Sprintf("t %d %d\n", talked, time.Since(epoch).Nanoseconds())
		talker.conn.SetWriteDeadline(time.Now().Add(drainLimit))
		if _, err := talker.conn.Write([]byte(msg)); err != nil {
			out.Error = fmt.Sprintf("the talker could not send: %v", err)
			break
		}
		talked++
	}
	tick.Stop()
	// The flood goes on in the server's queues; the talker's last lines
	// come once it is through, or are lost.
	harness.Eventually(drainLimit+p.Duration, "the talker's lines", func() (bool, error) {
		return heard.Load() >= int64(talked*len(readers)), nil
	})
	elapsed := time.Since(epoch)
	close(done)
	mu.Lock()
	out.FloodLines = int(floodBytes.Load() / 2)
	out.FloodPerSec = float64(flood.Load()) / float64(len(readers)) / elapsed.Seconds()
	out.Talked, out.Heard = talked, int(heard.Load())
	out.Lost = max(talked*len(readers)-out.Heard, 0)
	for _, c := range conns {
		if c.ended.Load() {
			kicked[c.id] = true
		}
	}
	out.Kicked = len(kicked)
	out.PeakPSSKiB = peak.Load()
	slices.Sort(lat)
	if len(lat) > 0 {
		at := func(q float64) float64 { return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / 1000 }
		out.P50ms, out.P99ms, out.Maxms = at(0.5), at(0.99), at(1)
	}
	if _, _, z := tree(srv.Pid); z > 0 && out.Error == "" {
		out.Error = fmt.Sprintf("%d zombies", z)
	}
	mu.Unlock()
	for _, c := range conns { // stop the readers; the deferred close resets every connection
		c.conn.SetReadDeadline(time.Now())
	}
	wg.Wait()
	return out
}

// readLine reads one line, byte by byte (the welcome: nothing after it may
// be taken from the socket).
func readLine(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		if _, err := c.Read(buf[n : n+1]); err != nil {
			return n, err
		}
		n++
		if buf[n-1] == '\n' {
			return n, nil
		}
	}
	return n, fmt.Errorf("line longer than %d bytes", len(buf))
}

// FloodMedians returns, per design and limit, the sample of median talker
// p99 (kicks and losses summed over runs, so that none is hidden).
func FloodMedians(samples []FloodSample) []FloodSample {
	type key struct{ design, limit string }
	groups := map[key][]FloodSample{}
	var order []key
	for _, s := range samples {
		k := key{s.Design, s.Limit}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	var out []FloodSample
	for _, k := range order {
		g := slices.Clone(groups[k])
		slices.SortFunc(g, func(a, b FloodSample) int {
			switch {
			case a.P99ms < b.P99ms:
				return -1
			case a.P99ms > b.P99ms:
				return 1
			}
			return 0
		})
		m := g[len(g)/2]
		m.Runs, m.Kicked, m.Lost = len(g), 0, 0
		for _, s := range g {
			m.Kicked += s.Kicked
			m.Lost += s.Lost
			if s.Error != "" && m.Error == "" {
				m.Error = s.Error
			}
		}
		out = append(out, m)
	}
	return out
}

// FloodTable writes the flood medians as a Markdown table.
func FloodTable(b *strings.Builder, medians []FloodSample) {
	b.WriteString("| design | limit | readers | flood lines/s per reader | kicked | talker p50 ms | talker p99 ms | talker max ms | talker lines lost | peak PSS MiB |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range medians {
		limit := s.Limit
		if limit == "" {
			limit = "none"
		}
		fmt.Fprintf(b, "| %s | %s | %d | %.0f | %d | %.1f | %.1f | %.1f | %d | %.1f |\n",
			s.Design, limit, s.Readers, s.FloodPerSec, s.Kicked, s.P50ms, s.P99ms, s.Maxms, s.Lost, float64(s.PeakPSSKiB)/1024)
		if s.Error != "" {
			fmt.Fprintf(b, "|  | error: %s | | | | | | | | |\n", strings.ReplaceAll(s.Error, "|", "/"))
		}
	}
}
