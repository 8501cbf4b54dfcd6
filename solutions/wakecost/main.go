// Command wakecost measures what it costs to wake an idle Go process: the
// CPU time a child spends per wake-up when it sleeps in epoll_wait on a pipe
// and its parent writes one byte every -every. Its twin in C is c/wakecost.c
// (make bench-wakeup builds and runs both). handouts/bench.md uses the two
// figures to explain why the process-per-client servers cost what they do.
//
//	wakecost [-n 500] [-every 15ms]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv marks the child role; its value is the number of wake-ups.
const childEnv = "WAKECOST_CHILD"

func main() {
	if v, ok := os.LookupEnv(childEnv); ok {
		n, _ := strconv.Atoi(v)
		if err := child(n); err != nil {
			fmt.Fprintln(os.Stderr, "wakecost: child:", err)
			os.Exit(1)
		}
		return
	}
	n := flag.Int("n", 500, "wake-ups to measure")
	every := flag.Duration("every", 15*time.Millisecond, "time between wake-ups (the runtime hands off a P after about 10 ms in a system call)")
	flag.Parse()
	if err := parent(*n, *every, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wakecost:", err)
		os.Exit(1)
	}
}

// parent starts the child with the read end of a pipe as fd 3 and its
// report going to out, writes one byte every interval, and waits for it.
func parent(n int, every time.Duration, out io.Writer) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(n))
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

// child waits in epoll_wait for each byte, n times, and prints its CPU time
// per wake-up.
func child(n int) error {
	const fd = 3
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: fd}); err != nil {
		return err
	}
	events := make([]unix.EpollEvent, 1)
	buf := make([]byte, 64)
	before := cpu()
	for got := 0; got < n; {
		k, err := unix.EpollWait(ep, events, -1)
		if err == unix.EINTR || k == 0 {
			continue
		}
		if err != nil {
			return err
		}
		m, err := unix.Read(fd, buf)
		if m <= 0 {
			return fmt.Errorf("read: %v after %d wake-ups", err, got)
		}
		got += m
	}
	fmt.Printf("Go: %.1f µs of CPU per wake-up (%d wake-ups)\n", float64((cpu()-before).Microseconds())/float64(n), n)
	return nil
}

// cpu is the CPU time this process has used, all threads together.
func cpu() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
