// Package bench loads chat servers the way a class does, and harder, and
// measures what each costs: deliveries per second, fan-out latency, connects
// per second, the CPU time and memory of the server's whole process tree.
// Like the grader, it treats a server as a black box: it starts the program,
// finds its port in /proc and talks TCP.
//
// One trial starts a server, connects N clients one after another (each
// waits for its welcome), then runs each mode in turn on the same clients:
//
//   - class: the clients send Rate messages per second in all, round-robin,
//     one line per write, as people typing would;
//   - saturate: every client sends bursts of Burst lines in one write as fast
//     as the server takes them: a client sends its next burst once every
//     other client has received the last one, so what is in flight stays
//     bounded (no client is ever kicked as too slow) and the server is never
//     idle.
//
// Each message carries a mode, a sequence number and the time it was sent,
// so every receiver counts losses, duplicates and order violations and
// measures latency. A sample with any of them is failed.
package bench

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"
)

// Mode is how clients send.
type Mode string

// The modes.
const (
	Class    Mode = "class"
	Saturate Mode = "saturate"
)

// Design is one server under test.
type Design struct {
	Name string   // "lab2", "shm", "epoll"
	Argv []string // its command line, without flags
}

// Params says how hard to load the server.
type Params struct {
	Rate     float64       // class mode: messages per second, all clients together
	Duration time.Duration // how long each mode sends
	Burst    int           // saturate mode: lines per write, and per round
}

// Sample is what one trial measured of one design, at one N, in one mode.
type Sample struct {
	Design string `json:"design"`
	N      int    `json:"clients"`
	Mode   Mode   `json:"mode"`
	Runs   int    `json:"runs"` // 1 for a trial; how many a median is of

	ConnectSeconds   float64 `json:"connect_seconds"` // to connect all N, each waiting for its welcome
	ConnectsPerSec   float64 `json:"connects_per_second"`
	Sent             int     `json:"messages_sent"`
	Deliveries       int     `json:"deliveries"` // messages times the recipients that got them
	DeliveriesPerSec float64 `json:"deliveries_per_second"`
	P50ms            float64 `json:"latency_p50_ms"` // send to receipt, over every delivery
	P99ms            float64 `json:"latency_p99_ms"`
	Maxms            float64 `json:"latency_max_ms"`
	CPUPercent       float64 `json:"cpu_percent"` // the server tree's CPU time over the mode's time, in % of one core
	PSSKiB           int64   `json:"pss_kib"`     // the server tree's proportional set size, after the mode
	PSSPerClientKiB  int64   `json:"pss_per_client_kib"`
	Processes        int     `json:"processes"`
	Lost             int     `json:"lost"`     // deliveries that never came
	Disorder         int     `json:"disorder"` // deliveries duplicated or out of a sender's order
	Zombies          int     `json:"zombies"`
	Error            string  `json:"error,omitempty"`
}

// Failed says whether the sample shows a broken server: a loss, a
// duplicate, a reordering, a zombie left, or a trial that could not finish.
func (s Sample) Failed() bool {
	return s.Lost > 0 || s.Disorder > 0 || s.Zombies > 0 || s.Error != ""
}

// drainLimit bounds the wait, after a mode has stopped sending, for what is
// still in flight; what has not come by then is lost.
const drainLimit = 5 * time.Second

// Trial starts d, connects n clients and runs each of modes on them.
func Trial(d Design, n int, p Params, modes []Mode) []Sample {
	fail := func(err error) []Sample {
		var out []Sample
		for _, m := range modes {
			out = append(out, Sample{Design: d.Name, N: n, Mode: m, Runs: 1, Error: err.Error()})
		}
		return out
	}
	srv, port, err := startServer(d, n+8)
	if err != nil {
		return fail(err)
	}
	defer srv.KillTree()
	r := &room{epoch: time.Now(), n: n}
	defer r.close()
	start := time.Now()
	if err := r.connect(port); err != nil {
		return fail(err)
	}
	connect := time.Since(start)
	var out []Sample
	for mi, m := range modes {
		s := r.run(srv, m, byte('a'+mi), p)
		s.Design, s.N, s.Runs = d.Name, n, 1
		s.ConnectSeconds, s.ConnectsPerSec = connect.Seconds(), float64(n)/connect.Seconds()
		out = append(out, s)
	}
	return out
}

// room is the clients of one trial.
type room struct {
	epoch   time.Time
	n       int
	clients []*client
	byID    map[int]int // server's user id -> client index
	wg      sync.WaitGroup
}

// client is one connection and what it has received.
type client struct {
	conn *net.TCPConn
	r    *bufio.Reader
	id   int

	mu    sync.Mutex
	phase *phase // what it counts into now
	next  []int  // per sender index: the sequence number expected next
	lat   []int32
	got   atomic.Int64
	last  atomic.Int64 // ns since epoch of the last receipt
	dis   int
	ended error
}

// phase is one mode's run: its marker and, in saturate mode, the ack counts.
type phase struct {
	mark  byte
	burst int
	acks  []atomic.Int32
	ready []chan struct{}
}

func (r *room) connect(port int) error {
	r.byID = map[int]int{}
	for i := range r.n {
		c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(port), 10*time.Second)
		if err != nil {
			return fmt.Errorf("client %d of %d: %w", i+1, r.n, err)
		}
		cl := &client{conn: c.(*net.TCPConn), next: make([]int, r.n)}
		cl.r = bufio.NewReaderSize(c, 64<<10)
		r.clients = append(r.clients, cl)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := cl.r.ReadString('\n')
		if _, perr := fmt.Sscanf(line, "* welcome user%d\n", &cl.id); err == nil && perr != nil {
			err = fmt.Errorf("first line %q", line)
		}
		if err != nil {
			return fmt.Errorf("client %d of %d: welcome: %w", i+1, r.n, err)
		}
		c.SetReadDeadline(time.Time{})
		r.byID[cl.id] = i
	}
	for _, c := range r.clients {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.receive(c)
		}()
	}
	return nil
}

func (r *room) close() {
	for _, c := range r.clients {
		c.conn.SetLinger(0)
		c.conn.Close()
	}
	r.wg.Wait()
}

// receive reads c's lines until the connection ends, counting messages.
func (r *room) receive(c *client) {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			c.mu.Lock()
			c.ended = err
			c.mu.Unlock()
			return
		}
		from, mark, seq, at, ok := parse(line)
		if !ok {
			continue // joins and leaves
		}
		now := time.Since(r.epoch).Nanoseconds()
		i, known := r.byID[from]
		c.mu.Lock()
		ph := c.phase
		if !known || ph == nil || mark != ph.mark {
			c.dis++ // a message from no one, or of another mode
			c.mu.Unlock()
			continue
		}
		if seq != c.next[i] {
			c.dis++
		}
		c.next[i] = max(c.next[i], seq+1)
		c.lat = append(c.lat, int32(min((now-at)/1000, 1<<31-1)))
		c.mu.Unlock()
		c.got.Add(1)
		c.last.Store(now)
		if ph.burst > 0 && seq%ph.burst == ph.burst-1 && int(ph.acks[i].Add(1)) == r.n-1 {
			ph.acks[i].Store(0)
			ph.ready[i] <- struct{}{}
		}
	}
}

// parse reads "userID: b SEQ NANOS\n" (b: the mode's marker).
func parse(line []byte) (from int, mark byte, seq int, at int64, ok bool) {
	rest, found := strings.CutPrefix(string(line), "user")
	if !found {
		return
	}
	id, rest, found := strings.Cut(rest, ": ")
	if !found || len(rest) < 2 || rest[1] != ' ' {
		return
	}
	mark = rest[0]
	f := strings.Fields(rest[2:])
	if len(f) != 2 {
		return
	}
	n, err1 := strconv.Atoi(id)
	s, err2 := strconv.Atoi(f[0])
	t, err3 := strconv.ParseInt(f[1], 10, 64)
	return n, mark, s, t, err1 == nil && err2 == nil && err3 == nil
}

// run runs one mode and measures it.
func (r *room) run(srv *harness.Proc, m Mode, mark byte, p Params) Sample {
	ph := &phase{mark: mark}
	if m == Saturate {
		ph.burst = max(p.Burst, 1)
		ph.acks = make([]atomic.Int32, r.n)
		ph.ready = make([]chan struct{}, r.n)
		for i := range ph.ready {
			ph.ready[i] = make(chan struct{}, 1)
		}
	}
	for _, c := range r.clients {
		c.mu.Lock()
		c.phase, c.lat, c.dis = ph, c.lat[:0], 0
		clear(c.next)
		c.mu.Unlock()
		c.got.Store(0)
	}
	sent := make([]int, r.n)
	var sendErr error
	cpu0 := treeCPU(srv.Pid)
	t0 := time.Since(r.epoch)
	stop := time.Now().Add(p.Duration)
	if m == Class {
		sendErr = r.paced(p, mark, stop, sent)
	} else {
		sendErr = r.flood(ph, stop, sent)
	}
	total := 0
	for _, k := range sent {
		total += k
	}
	expect := func(i int) int64 { return int64(total - sent[i]) }
	harness.Eventually(drainLimit, "every delivery", func() (bool, error) {
		for i, c := range r.clients {
			if c.got.Load() < expect(i) {
				return false, nil
			}
		}
		return true, nil
	})
	s := Sample{Mode: m, Sent: total}
	var end int64
	var lat []int32
	for i, c := range r.clients {
		c.mu.Lock()
		got := int(c.got.Load())
		s.Deliveries += got
		s.Lost += max(0, int(expect(i))-got)
		s.Disorder += c.dis + max(0, got-int(expect(i)))
		lat = append(lat, c.lat...)
		if c.ended != nil && sendErr == nil {
			sendErr = fmt.Errorf("a client's connection ended: %v", c.ended)
		}
		c.phase = nil
		c.mu.Unlock()
		end = max(end, c.last.Load())
	}
	elapsed := time.Duration(end) - t0
	if elapsed <= 0 {
		elapsed = time.Since(r.epoch) - t0
	}
	s.DeliveriesPerSec = float64(s.Deliveries) / elapsed.Seconds()
	s.CPUPercent = 100 * (treeCPU(srv.Pid) - cpu0).Seconds() / elapsed.Seconds()
	slices.Sort(lat)
	if len(lat) > 0 {
		at := func(q float64) float64 { return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / 1000 }
		s.P50ms, s.P99ms, s.Maxms = at(0.5), at(0.99), at(1)
	}
	s.PSSKiB, s.Processes, s.Zombies = tree(srv.Pid)
	s.PSSPerClientKiB = s.PSSKiB / int64(r.n)
	if sendErr != nil {
		s.Error = sendErr.Error()
	}
	return s
}

// paced sends Rate messages per second in all, round-robin, until stop.
func (r *room) paced(p Params, mark byte, stop time.Time, sent []int) error {
	tick := time.NewTicker(time.Duration(float64(time.Second) / p.Rate))
	defer tick.Stop()
	for k := 0; time.Now().Before(stop); k++ {
		<-tick.C
		i := k % r.n
		msg := fmt.Sprintf("%c %d %d\n", mark, sent[i], time.Since(r.epoch).Nanoseconds())
		if _, err := r.clients[i].conn.Write([]byte(msg)); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		sent[i]++
	}
	return nil
}

// flood has every client send bursts until stop, each after every other
// client has received its last.
func (r *room) flood(ph *phase, stop time.Time, sent []int) error {
	var wg sync.WaitGroup
	errs := make([]error, r.n)
	for i, c := range r.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b []byte
			for time.Now().Before(stop) {
				b = b[:0]
				at := time.Since(r.epoch).Nanoseconds()
				for range ph.burst {
					b = fmt.Appendf(b, "%c %d %d\n", ph.mark, sent[i], at)
					sent[i]++
				}
				if _, err := c.conn.Write(b); err != nil {
					errs[i] = fmt.Errorf("send: %w", err)
					return
				}
				select {
				case <-ph.ready[i]:
				case <-time.After(time.Until(stop) + drainLimit):
					return // lost: counted by the receivers
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startServer starts d on a port of the kernel's choosing, for up to
// clients clients, with extra flags, and waits until it listens; it
// returns the server and its port (read from /proc, as the grader does).
// The caller kills the server's tree.
func startServer(d Design, clients int, extra ...string) (*harness.Proc, int, error) {
	args := append(slices.Clone(d.Argv[1:]), "-port", "0", "-max-clients", strconv.Itoa(clients))
	srv, err := harness.Start(d.Argv[0], append(args, extra...), harness.Options{})
	if err != nil {
		return nil, 0, err
	}
	var port int
	err = harness.Eventually(10*time.Second, d.Name+" to listen", func() (bool, error) {
		ports, err := procfs.Listening(srv.Pid)
		if err != nil && srv.Wait(100*time.Millisecond) { // /proc went with it: say how it ended
			return false, fmt.Errorf("it exited: %v\n%s", srv.ExitState(), srv.Stderr())
		}
		if srv.Exited() {
			return false, fmt.Errorf("it exited: %v\n%s", srv.ExitState(), srv.Stderr())
		}
		if len(ports) > 0 {
			port = int(ports[0].Port())
		}
		return len(ports) > 0, err
	})
	if err != nil {
		srv.KillTree()
		return nil, 0, err
	}
	return srv, port, nil
}

// treeCPU is the CPU time of a process and its descendants, as /proc counts
// it (in clock ticks of 10 ms).
func treeCPU(pid int) time.Duration {
	var ticks uint64
	ds, _ := procfs.Descendants(pid)
	for _, p := range append(ds, procfs.Stat{Pid: pid}) {
		if st, err := procfs.ReadStat(p.Pid); err == nil {
			ticks += st.UTime + st.STime
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// tree returns the server tree's PSS, its process count and its zombies.
func tree(pid int) (pssKiB int64, procs, zombies int) {
	ds, _ := procfs.Descendants(pid)
	pssKiB = procfs.PSS(pid)
	for _, d := range ds {
		if d.State == 'Z' {
			zombies++
		}
		pssKiB += procfs.PSS(d.Pid)
	}
	return pssKiB, len(ds) + 1, zombies
}
