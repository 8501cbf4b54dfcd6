// Command chatbench loads a chat server and checks what it delivers.
//
//	chatbench -server CMD [-n N] [-rate R] [-duration D]
//
// It starts the server (on -port 0, found from /proc like the grader does),
// connects N clients, each waiting for its welcome, then has them send R
// messages per second in all for D. Every message carries its sender, a
// sequence number and a timestamp, so every receiver can count losses,
// duplicates and order violations, and measure fan-out latency. It samples
// the server's whole process tree from /proc: CPU time, memory (PSS),
// open descriptors, zombies. Any loss, duplicate or reordering fails the
// run (exit status 1).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"
	"chatlab/grader/wire"
)

func main() { os.Exit(run()) }

// receiver is what one client saw.
type receiver struct {
	next      map[int]int // sender -> the sequence number expected next
	got       int
	lost, dup int
	lat       []time.Duration
}

func run() int {
	serverCmd := flag.String("server", "", "the server to load: a command line")
	n := flag.Int("n", 10, "clients")
	rate := flag.Float64("rate", 50, "messages per second, all clients together")
	duration := flag.Duration("duration", 5*time.Second, "how long to send")
	every := flag.Duration("sample", 0, "also describe the server tree this often while sending (0: only before and after)")
	flag.Parse()
	argv := strings.Fields(*serverCmd)
	if len(argv) == 0 || *n < 2 || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "usage: chatbench -server CMD [-n N>=2] [-rate R] [-duration D]")
		return 2
	}
	if err := harness.Init(); err != nil {
		fmt.Fprintln(os.Stderr, "chatbench:", err)
		return 2
	}
	srv, err := harness.Start(argv[0], append(argv[1:], "-port", "0", "-max-clients", strconv.Itoa(*n+8)), harness.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatbench:", err)
		return 2
	}
	defer srv.KillTree()
	var port int
	if err := harness.Eventually(10*time.Second, "the server to listen", func() (bool, error) {
		ports, err := procfs.Listening(srv.Pid)
		if len(ports) > 0 {
			port = int(ports[0].Port())
		}
		return len(ports) > 0 || srv.Exited(), err
	}); err != nil || port == 0 {
		fmt.Fprintf(os.Stderr, "chatbench: the server did not listen: %v\n%s", err, srv.Stderr())
		return 2
	}

	// Connect everyone, one at a time, each waiting for its welcome.
	start := time.Now()
	conns := make([]*wire.Conn, *n)
	ids := make([]int, *n)
	for i := range conns {
		c, err := wire.Dial(fmt.Sprintf("client %d", i), port, 10*time.Second)
		if err == nil {
			var line string
			line, err = c.ReadLine(10 * time.Second)
			if _, perr := fmt.Sscanf(line, "* welcome user%d", &ids[i]); err == nil && perr != nil {
				err = fmt.Errorf("first line %q", line)
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "chatbench: client %d: %v\n", i, err)
			return 1
		}
		conns[i] = c
	}
	connectTime := time.Since(start)
	base := sample(srv.Pid)
	fmt.Printf("connected %d clients in %v (%.0f per second)\n", *n, connectTime.Round(time.Millisecond), float64(*n)/connectTime.Seconds())
	fmt.Printf("at rest:  %s\n", base)

	// Receivers: each client reads until it has every message of the others.
	total := int(*rate * duration.Seconds())
	recv := make([]*receiver, *n)
	var wg sync.WaitGroup
	var sentBy = make([]atomic.Int64, *n)
	for i, c := range conns {
		recv[i] = &receiver{next: map[int]int{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := recv[i]
			for {
				line, err := c.ReadLine(time.Hour)
				if err != nil {
					return
				}
				var from, seq int
				var at int64
				if _, err := fmt.Sscanf(line, "user%d: b %d %d", &from, &seq, &at); err != nil {
					continue // joins, leaves: not counted
				}
				r.lat = append(r.lat, time.Since(time.Unix(0, at)))
				switch want := r.next[from]; {
				case seq == want:
				case seq > want:
					r.lost += seq - want
				default:
					r.dup++
				}
				r.next[from] = max(r.next[from], seq+1)
				r.got++
			}
		}()
	}

	// Send at the aggregate rate, round-robin over the clients.
	seqs := make([]int, *n)
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	sendStart := time.Now()
	cpu0 := treeCPU(srv.Pid)
	nextSample := time.Now().Add(*every)
	for k := range total {
		<-tick.C
		if *every > 0 && time.Now().After(nextSample) {
			fmt.Printf("at %3.0fs:  %s\n", time.Since(sendStart).Seconds(), sample(srv.Pid))
			nextSample = nextSample.Add(*every)
		}
		i := k % *n
		msg := fmt.Sprintf("b %d %d\n", seqs[i], time.Now().UnixNano())
		seqs[i]++
		sentBy[i].Add(1)
		if err := conns[i].Send(msg); err != nil {
			fmt.Fprintf(os.Stderr, "chatbench: send: %v\n", err)
			return 1
		}
	}
	tick.Stop()
	sendTime := time.Since(sendStart)
	// Wait (bounded) for every receiver to have everything.
	harness.Eventually(10*time.Second, "delivery", func() (bool, error) {
		for i, r := range recv {
			if r.got+r.lost < total-int(sentBy[i].Load()) {
				return false, nil
			}
		}
		return true, nil
	})
	cpu := treeCPU(srv.Pid) - cpu0
	after := sample(srv.Pid)
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()

	var lat []time.Duration
	var got, lost, dup, missing int
	for i, r := range recv {
		want := total - int(sentBy[i].Load())
		got += r.got
		lost += r.lost
		dup += r.dup
		missing += max(0, want-r.got-r.lost)
		lat = append(lat, r.lat...)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(10 * time.Microsecond)
	}
	fmt.Printf("sent %d messages in %v; %d deliveries (%.0f per second)\n", total, sendTime.Round(time.Millisecond), got, float64(got)/sendTime.Seconds())
	fmt.Printf("fan-out latency: p50 %v, p99 %v, max %v\n", pct(0.5), pct(0.99), pct(1))
	fmt.Printf("server CPU while sending: %v (%.0f%% of one core)\n", cpu.Round(time.Millisecond), 100*cpu.Seconds()/sendTime.Seconds())
	fmt.Printf("after:    %s\n", after)
	fmt.Printf("lost %d, duplicated %d, out of order or missing %d\n", lost, dup, missing)
	if lost+dup+missing > 0 {
		fmt.Println("FAILED: the server lost, duplicated or reordered messages")
		return 1
	}
	return 0
}

// treeCPU is the CPU time of a process and its descendants.
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

// sample describes the server tree: processes, zombies, PSS, main's fds.
func sample(pid int) string {
	ds, _ := procfs.Descendants(pid)
	var pss, childPss int64
	zombies := 0
	for _, d := range ds {
		if d.State == 'Z' {
			zombies++
		}
		kb := pssKB(d.Pid)
		childPss += kb
		pss += kb
	}
	pss += pssKB(pid)
	fds, _ := procfs.Fds(pid)
	per := int64(0)
	if len(ds) > 0 {
		per = childPss / int64(len(ds))
	}
	return fmt.Sprintf("%d processes, %d zombies, PSS %d KiB in all (%d KiB per child), server fds %d",
		len(ds)+1, zombies, pss, per, len(fds))
}

// pssKB reads a process's proportional set size from smaps_rollup.
func pssKB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}
