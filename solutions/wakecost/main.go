//lab:omit (a measurement, not a lab: not in the skeletons)

// Command wakecost measures what it costs to wake an idle Go process: a
// child sleeps until its parent writes one byte into a pipe, every -every,
// reads it, and sleeps again, -n times. It reports, per wake-up, the CPU
// time of all the child's threads together and how many times a thread of
// it was run, from /proc/self/task/*/schedstat (proc(5): the first field is
// the time on a CPU in ns, the third the number of times run).
//
// Three ways of sleeping are measured (-strategy):
//
//   - syscall: epoll_wait and read through unix.EpollWait and unix.Read, as
//     the children did before: each blocking system call wakes the runtime's
//     sysmon and a spare thread besides the child's own.
//   - fdio: the children's way today (solutions/fdio): the child's own epoll
//     instance waited on in the runtime's network poller (fdio.Poller), the
//     read by RawSyscall (fdio.Read); only the child's thread wakes.
//   - direct: the pipe itself in the runtime's poller (an *os.File, waited on
//     through SyscallConn().Read), the read by RawSyscall: no epoll instance
//     of the child's own. It is how a child made of one goroutine per
//     direction would wait; the difference from fdio is what the nested
//     epoll costs.
//
// With -c, the twin in C (c/wakecost.c, built by make bench-wakeup) is
// measured too. The strategies run in turn, -rounds times, and the medians
// are printed: interleaving spreads a noisy machine's moods over all of
// them. handouts/bench.md quotes the figures. What the Go figures show
// depends on how the runtime schedules (go.mod pins the toolchain): run it
// again after a Go upgrade.
//
//	wakecost [-n 500] [-every 15ms] [-rounds 3] [-strategy all|syscall,fdio,direct] [-c PATH]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"chatlab/solutions/fdio"

	"golang.org/x/sys/unix"
)

// childEnv marks the child role; its value is "STRATEGY N".
const childEnv = "WAKECOST_CHILD"

// strategies are the Go ways of sleeping, in the order they run.
var strategies = []string{"syscall", "fdio", "direct"}

func main() {
	if v, ok := os.LookupEnv(childEnv); ok {
		strategy, count, _ := strings.Cut(v, " ")
		n, _ := strconv.Atoi(count)
		if err := child(strategy, n, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "wakecost: child:", err)
			os.Exit(1)
		}
		return
	}
	n := flag.Int("n", 500, "wake-ups to measure")
	every := flag.Duration("every", 15*time.Millisecond, "time between wake-ups (the runtime hands off a P after about 10 ms in a system call)")
	rounds := flag.Int("rounds", 3, "rounds: the strategies run in turn in each, and the medians are printed")
	strategy := flag.String("strategy", "all", "how the child sleeps, comma-separated: syscall, fdio, direct (or all)")
	cTwin := flag.String("c", "", "the C twin's binary (c/wakecost.c), measured alongside")
	flag.Parse()
	names := strategies
	if *strategy != "all" {
		names = strings.Split(*strategy, ",")
	}
	for _, s := range names {
		if !slices.Contains(strategies, s) {
			fmt.Fprintf(os.Stderr, "wakecost: -strategy %q: want all, or some of %s\n", s, strings.Join(strategies, ","))
			os.Exit(2)
		}
	}
	var runs []func() (result, error)
	var labels []string
	for _, s := range names {
		runs = append(runs, func() (result, error) { return parent(s, *n, *every) })
		labels = append(labels, "Go ("+s+")")
	}
	if *cTwin != "" {
		runs = append(runs, func() (result, error) { return runC(*cTwin, *n, *every) })
		labels = append(labels, "C")
	}
	fmt.Printf("one wake-up every %v, %d wake-ups, %d rounds (medians):\n", *every, *n, *rounds)
	all := make([][]result, len(runs))
	for range *rounds {
		for i, run := range runs {
			r, err := run()
			if err != nil {
				fmt.Fprintf(os.Stderr, "wakecost: %s: %v\n", labels[i], err)
				os.Exit(1)
			}
			all[i] = append(all[i], r)
		}
	}
	for i, rs := range all {
		m := median(rs)
		fmt.Printf("  %-13s %6.1f µs of CPU and %.2f thread runs per wake-up; threads that ran: %d\n", labels[i]+":", m.us, m.runs, m.threads)
	}
}

// result is one measurement: per wake-up, µs of CPU and thread runs; and
// how many threads ran at all.
type result struct {
	us, runs float64
	threads  int
}

// median is the median of each figure of rs, taken separately.
func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		us:      pick(func(r result) float64 { return r.us }),
		runs:    pick(func(r result) float64 { return r.runs }),
		threads: int(pick(func(r result) float64 { return float64(r.threads) })),
	}
}

// report is the line a child prints, the C twin's included.
const report = "%s %f µs of CPU and %f thread runs per wake-up; threads that ran: %d"

// parse reads a child's report line.
func parse(out []byte) (result, error) {
	var r result
	var name string
	line, _, _ := bytes.Cut(out, []byte("\n"))
	// "Go (fdio): ..." has a space in its name; the figures follow the first ": ".
	_, rest, ok := bytes.Cut(line, []byte(": "))
	if !ok {
		return r, fmt.Errorf("report %q", line)
	}
	if _, err := fmt.Sscanf("x "+string(rest), report, &name, &r.us, &r.runs, &r.threads); err != nil {
		return r, fmt.Errorf("report %q: %w", line, err)
	}
	return r, nil
}

// parent starts the child with the read end of a pipe as fd 3, writes one
// byte every interval, and returns the child's report.
func parent(strategy string, n int, every time.Duration) (result, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), childEnv+"="+strategy+" "+strconv.Itoa(n))
	cmd.ExtraFiles = []*os.File{r}
	return feed(cmd, r, w, n, every)
}

// runC runs the C twin, which makes its own pipe and feeds itself.
func runC(path string, n int, every time.Duration) (result, error) {
	out, err := exec.Command(path, strconv.Itoa(n), strconv.Itoa(int(every/time.Millisecond))).Output()
	if err != nil {
		return result{}, err
	}
	return parse(out)
}

// feed starts cmd (r is its end of the pipe), writes one byte into w every
// interval, n times, and parses cmd's report.
func feed(cmd *exec.Cmd, r, w *os.File, n int, every time.Duration) (result, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return result{}, err
	}
	r.Close()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for range n {
		<-tick.C // the load's pace, not a synchronisation
		if _, err := w.Write([]byte{1}); err != nil {
			break
		}
	}
	w.Close()
	if err := cmd.Wait(); err != nil {
		return result{}, err
	}
	return parse(out.Bytes())
}

// child sleeps until each byte comes, n times, the strategy's way, and
// prints its CPU time and thread runs per wake-up.
func child(strategy string, n int, out io.Writer) error {
	const fd = 3
	runtime.GOMAXPROCS(1) // as the servers' children
	buf := make([]byte, 64)
	var wait func() (int, error)
	switch strategy {
	case "syscall":
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return err
		}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: fd}); err != nil {
			return err
		}
		events := make([]unix.EpollEvent, 1)
		wait = func() (int, error) {
			if k, err := unix.EpollWait(ep, events, -1); k <= 0 {
				if err == unix.EINTR || err == nil {
					return 0, nil
				}
				return 0, err
			}
			return unix.Read(fd, buf)
		}
	case "fdio":
		if err := fdio.SetNonblock(fd); err != nil {
			return err
		}
		p, err := fdio.NewPoller()
		if err != nil {
			return err
		}
		pfds := []unix.PollFd{{Fd: fd, Events: unix.POLLIN}}
		wait = func() (int, error) {
			if _, err := p.Poll(pfds, -1); err != nil {
				return 0, err
			}
			n, err := fdio.Read(fd, buf)
			if err == unix.EAGAIN {
				return 0, nil
			}
			return n, err
		}
	case "direct":
		if err := fdio.SetNonblock(fd); err != nil {
			return err
		}
		f := os.NewFile(fd, "pipe") // the one wrapper of fd 3: the runtime's poller watches it
		rc, err := f.SyscallConn()
		if err != nil {
			return err
		}
		wait = func() (int, error) {
			var k int
			var errno unix.Errno
			err := rc.Read(func(uintptr) bool {
				r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
				k, errno = int(r), e
				return errno != unix.EAGAIN // false: park until the pipe is readable
			})
			switch {
			case err != nil:
				return 0, err
			case errno == unix.EINTR:
				return 0, nil
			case errno != 0:
				return 0, errno
			}
			return k, nil
		}
	default:
		return fmt.Errorf("no strategy %q", strategy)
	}
	before := threadStats()
	for got := 0; got < n; {
		m, err := wait()
		if err != nil || m < 0 {
			return fmt.Errorf("read: %v after %d wake-ups", err, got)
		}
		got += m
	}
	after := threadStats()
	fmt.Fprintf(out, "Go (%s): %.1f µs of CPU and %.2f thread runs per wake-up; threads that ran: %d (%d wake-ups)\n",
		strategy, float64(after.cpu-before.cpu)/1e3/float64(n), float64(after.runs-before.runs)/float64(n), ran(before, after), n)
	return nil
}

// stats is the sum over a process's threads of their schedstat fields,
// and each thread's run count.
type stats struct {
	cpu, runs int64 // ns on a CPU; times run
	byThread  map[string]int64
}

// threadStats reads /proc/self/task/*/schedstat.
func threadStats() stats {
	st := stats{byThread: map[string]int64{}}
	paths, _ := filepath.Glob("/proc/self/task/*/schedstat")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		f := strings.Fields(string(b))
		if err != nil || len(f) < 3 {
			continue
		}
		cpu, _ := strconv.ParseInt(f[0], 10, 64)
		runs, _ := strconv.ParseInt(f[2], 10, 64)
		st.cpu += cpu
		st.runs += runs
		st.byThread[filepath.Base(filepath.Dir(p))] = runs
	}
	return st
}

// ran counts the threads that were run between two readings (one that
// started meanwhile counts).
func ran(before, after stats) int {
	n := 0
	for tid, runs := range after.byThread {
		if runs > before.byThread[tid] {
			n++
		}
	}
	return n
}
