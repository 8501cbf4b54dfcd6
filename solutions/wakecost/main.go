//lab:omit (a measurement, not a lab: not in the skeletons)

// Command wakecost measures what it costs to wake an idle Go process: a
// child sleeps until its parent writes one byte into a pipe, every -every,
// reads it, and sleeps again, -n times. It prints, per wake-up, the CPU
// time of all its threads together and how many times a thread of it was
// run, from /proc/self/task/*/schedstat (proc(5): the second field... the
// first is the time on a CPU in ns, the third the number of times run).
//
// Two ways of sleeping are measured (-strategy):
//
//   - syscall: epoll_wait and read through unix.EpollWait and unix.Read, as
//     the children did before: each blocking system call wakes the runtime's
//     sysmon and a spare thread besides the child's own.
//   - fdio: the children's way today (solutions/fdio): the wait in the
//     runtime's network poller (fdio.Poller), the read by RawSyscall
//     (fdio.Read); only the child's thread wakes.
//
// Its twin in C is c/wakecost.c. make bench-wakeup builds and runs the
// three; handouts/bench.md quotes them. What the Go figures show depends on
// how the runtime schedules (go.mod pins the toolchain): run it again after
// a Go upgrade.
//
//	wakecost [-n 500] [-every 15ms] [-strategy fdio|syscall|both]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"chatlab/solutions/fdio"

	"golang.org/x/sys/unix"
)

// childEnv marks the child role; its value is "STRATEGY N".
const childEnv = "WAKECOST_CHILD"

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
	strategy := flag.String("strategy", "both", "how the child sleeps: fdio (the children's way), syscall (blocking system calls), or both")
	flag.Parse()
	strategies := []string{*strategy}
	if *strategy == "both" {
		strategies = []string{"syscall", "fdio"}
	}
	for _, s := range strategies {
		if s != "syscall" && s != "fdio" {
			fmt.Fprintf(os.Stderr, "wakecost: -strategy %q: want fdio, syscall or both\n", s)
			os.Exit(2)
		}
		if err := parent(s, *n, *every, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "wakecost:", err)
			os.Exit(1)
		}
	}
}

// parent starts the child with the read end of a pipe as fd 3 and its
// report going to out, writes one byte every interval, and waits for it.
func parent(strategy string, n int, every time.Duration, out io.Writer) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), childEnv+"="+strategy+" "+strconv.Itoa(n))
	cmd.ExtraFiles = []*os.File{r}
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
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
	return cmd.Wait()
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
