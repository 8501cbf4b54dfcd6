// Package harness runs the programs under test: each in its own process
// group, with its output captured up to a cap, and with the means to kill and
// reap its whole process tree, even the parts that escaped the group.
//
// Call Init once at start: then processes orphaned by a dying
// program come back to this process instead of init, so that they can be
// killed and reaped rather than left running.
package harness

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"chatlab/grader/procfs"

	"golang.org/x/sys/unix"
)

// OutputCap bounds how much of a program's stdout and stderr is kept, each.
const OutputCap = 64 << 10

// Init prepares this process to run programs under test; call it once at
// start. It makes this process the reaper of its orphaned descendants (prctl
// PR_SET_CHILD_SUBREAPER), and marks every descriptor it inherited from 3 up
// close-on-exec, so that programs under test get stdin, stdout, stderr and
// what the test passes them, not whatever the shell or CI runner left open.
func Init() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= 3 {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
	return nil
}

// Options says how to start a program.
type Options struct {
	// Stdin, if not nil, is the program's standard input; else /dev/null.
	Stdin *os.File
	// StderrPipe gives the program a pipe as stderr whose read end the test
	// holds (Proc.StderrReader) instead of a captured stream, so that the
	// test can close it while the program runs.
	StderrPipe bool
	// StdoutPipe is StderrPipe for stdout (Proc.StdoutReader).
	StdoutPipe bool
	// Env is added to this process's environment.
	Env []string
	// Credential, if set, runs the program as another user (the grader,
	// run as root, runs programs under test as nobody).
	Credential *syscall.Credential
}

// Proc is a running program under test.
type Proc struct {
	Pid  int
	Name string

	cmd    *exec.Cmd
	stdout *capped
	stderr *capped
	// StderrReader and StdoutReader are the read ends of the program's
	// stderr and stdout with Options.StderrPipe and StdoutPipe; the test
	// owns them.
	StderrReader, StdoutReader *os.File

	done    chan struct{} // closed when the program has been reaped
	state   *os.ProcessState
	killed  sync.Once
	related map[int]uint64 // descendants seen, pid -> start time
	shm     []string       // /dev/shm objects it was seen to map
}

// live holds the programs started and not yet reaped, so that orphans can be
// told apart from them.
var live = struct {
	sync.Mutex
	pids map[int]bool
}{pids: map[int]bool{}}

// Start starts path with args in a new process group.
func Start(path string, args []string, opt Options) (*Proc, error) {
	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: opt.Credential}
	cmd.Env = append(os.Environ(), opt.Env...)
	if raceEnabled && os.Getenv("GORACE") == "" {
		// A race-built program sleeps a second at exit by default, which
		// would hide how fast it really shuts down.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	p := &Proc{Name: path, cmd: cmd, done: make(chan struct{}), related: map[int]uint64{}}
	if opt.Stdin != nil {
		cmd.Stdin = opt.Stdin
	}
	// stdout and stderr are pipes of our own, read by our own goroutines:
	// with an io.Writer, exec.Cmd.Wait would also wait for the end of the
	// output, which never comes while a descendant holds the pipe open,
	// and a program that exited would look alive.
	p.stdout, p.stderr = &capped{}, &capped{}
	var writeEnds, copyFrom []*os.File
	var copyTo []*capped
	for _, pipe := range []struct {
		give   bool
		reader **os.File
		target *io.Writer
		keep   *capped
	}{
		{opt.StdoutPipe, &p.StdoutReader, &cmd.Stdout, p.stdout},
		{opt.StderrPipe, &p.StderrReader, &cmd.Stderr, p.stderr},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", path, err)
		}
		*pipe.target = w
		writeEnds = append(writeEnds, w)
		if pipe.give {
			*pipe.reader = r
		} else {
			copyFrom, copyTo = append(copyFrom, r), append(copyTo, pipe.keep)
		}
	}
	live.Lock()
	err := cmd.Start()
	if err == nil {
		p.Pid = cmd.Process.Pid
		live.pids[p.Pid] = true
	}
	live.Unlock()
	for _, w := range writeEnds {
		w.Close()
	}
	if err != nil {
		for _, r := range slices.Concat(copyFrom, []*os.File{p.StdoutReader, p.StderrReader}) {
			if r != nil {
				r.Close()
			}
		}
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	for i, r := range copyFrom {
		copyTo[i].done = make(chan struct{})
		go func() {
			io.Copy(copyTo[i], r) // until every holder of the write end is gone
			r.Close()
			close(copyTo[i].done)
		}()
	}
	go func() {
		cmd.Wait()
		p.state = cmd.ProcessState
		live.Lock()
		delete(live.pids, p.Pid)
		live.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Signal sends sig to the program (not to its group).
func (p *Proc) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return errors.New("process already exited")
	default:
	}
	return unix.Kill(p.Pid, sig)
}

// Wait waits at most timeout for the program to exit and reports whether it
// did.
func (p *Proc) Wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Done is closed when the program has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the program has exited and been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitState is how the program ended; nil while it runs.
func (p *Proc) ExitState() *os.ProcessState {
	if !p.Exited() {
		return nil
	}
	return p.state
}

// Stdout returns what the program wrote to stdout so far (capped). Once
// the program has exited, it is all of it (see output).
func (p *Proc) Stdout() string { return p.output(p.stdout) }

// Stderr returns what the program wrote to stderr so far (capped), like
// Stdout.
func (p *Proc) Stderr() string { return p.output(p.stderr) }

// outputGrace bounds the wait for the end of a pipe after the program has
// exited: a descendant that outlives it may hold the pipe open for ever.
const outputGrace = 500 * time.Millisecond

// output returns what c holds. If the program has exited, it first waits
// for the copy to reach the end of the pipe, so that nothing the program
// wrote just before exiting is missed.
func (p *Proc) output(c *capped) string {
	if p.Exited() && c.done != nil {
		select {
		case <-c.done:
		case <-time.After(outputGrace):
		}
	}
	return c.String()
}

// Descendants returns the program's live descendants, and remembers them so
// that KillTree finds them even after their parent dies.
func (p *Proc) Descendants() ([]procfs.Stat, error) {
	ds, err := procfs.Descendants(p.Pid)
	for _, d := range ds {
		p.related[d.Pid] = d.Start
	}
	return ds, err
}

// KillTree kills the program and every process below it with SIGKILL and
// reaps them all: descendants found by parent (a program can leave its
// process group with setsid), and any orphan that came back to this process.
// It returns the processes that were still running besides the program
// itself, so that a test can report what was left behind.
func (p *Proc) KillTree() []procfs.Stat {
	var left []procfs.Stat
	p.killed.Do(func() {
		seen := map[int]bool{}
		// Stop the parent first so it cannot start new children, then the
		// descendants, until no new one appears.
		if !p.Exited() {
			unix.Kill(p.Pid, unix.SIGSTOP)
		}
		// Shared memory the tree maps outlives it unless unlinked: note it
		// now, unlink it once everything is dead.
		shm := p.shmObjects()
		for range 100 {
			ds, _ := p.Descendants()
			fresh := false
			for _, d := range ds {
				if !seen[d.Pid] && d.State != 'Z' {
					seen[d.Pid] = true
					fresh = true
					left = append(left, d)
					unix.Kill(d.Pid, unix.SIGKILL)
				}
			}
			if !fresh {
				break
			}
		}
		if !p.Exited() {
			unix.Kill(-p.Pid, unix.SIGKILL) // the group, if it is still there
			unix.Kill(p.Pid, unix.SIGKILL)
		}
		<-p.done
		for _, r := range []*os.File{p.StdoutReader, p.StderrReader} {
			if r != nil {
				r.Close() // the test may have closed it already
			}
		}
		// With the program gone, its orphans are ours (or init's if we are
		// not a subreaper): kill and reap the ones we know of, and any other
		// orphan that is not a program we started.
		reapOrphans(p.Pid, p.related)
		for _, path := range shm {
			os.Remove(path)
		}
		// An object made by a process that died before it was seen to map
		// it (a skeleton that stops at a TODO just after shm_open) is found
		// by its name, when the name ends with the pid of one of the tree
		// (chatlab-PID, as the handout suggests).
		pids := []int{p.Pid}
		for pid := range p.related {
			pids = append(pids, pid)
		}
		removeShmNamedAfter(pids)
	})
	return left
}

// removeShmNamedAfter removes the /dev/shm objects whose names end with one
// of pids, after a non-digit: "chatlab-1234" for 1234, not "x11234".
func removeShmNamedAfter(pids []int) {
	ents, err := os.ReadDir("/dev/shm")
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		for _, pid := range pids {
			suffix := strconv.Itoa(pid)
			if rest, ok := strings.CutSuffix(name, suffix); ok && rest != "" && (rest[len(rest)-1] < '0' || rest[len(rest)-1] > '9') {
				os.Remove(filepath.Join("/dev/shm", name))
			}
		}
	}
}

// shmObjects returns the /dev/shm objects mapped by the program and its
// descendants, plus those mapped earlier (Proc.NoteShm).
func (p *Proc) shmObjects() []string {
	pids := []int{p.Pid}
	ds, _ := p.Descendants()
	for _, d := range ds {
		pids = append(pids, d.Pid)
	}
	objs := slices.Clone(p.shm)
	for _, pid := range pids {
		paths, _ := procfs.ShmMappings(pid)
		for _, path := range paths {
			if !slices.Contains(objs, path) {
				objs = append(objs, path)
			}
		}
	}
	return objs
}

// NoteShm records the /dev/shm objects the program maps now, so that
// KillTree removes them even if the program has exited by then; it returns
// them.
func (p *Proc) NoteShm() []string {
	p.shm = p.shmObjects()
	return p.shm
}

// reapOrphans kills and reaps this process's children that are orphans of
// one program's tree: descendants seen before (same pid and start time), and
// processes still in the program's own process group (Start gives each
// program a group of its own). Orphans of other trees are left to their own
// KillTree, so that programs graded side by side cannot hide each other's
// leftovers; SweepOrphans takes whatever is left at the end.
func reapOrphans(group int, known map[int]uint64) {
	for range 100 {
		kids, _ := procfs.Children(os.Getpid())
		found := false
		for _, k := range kids {
			start, seen := known[k.Pid]
			if (seen && start == k.Start) || (!seen && k.PGrp == group) {
				found = true
				killAndReap(k.Pid)
			}
		}
		if !found {
			return
		}
	}
}

// SweepOrphans kills and reaps every child of this process that is not a
// program started by Start and still running: orphans that escaped both
// their group and notice (a double fork into a new session). Call it once
// grading is over; it leaves this process's own helpers (go build, in its
// process group) alone.
func SweepOrphans() {
	group := unix.Getpgrp()
	for range 100 {
		kids, _ := procfs.Children(os.Getpid())
		found := false
		for _, k := range kids {
			live.Lock()
			ours := live.pids[k.Pid]
			live.Unlock()
			if !ours && k.PGrp != group {
				found = true
				killAndReap(k.Pid)
			}
		}
		if !found {
			return
		}
	}
}

func killAndReap(pid int) {
	unix.Kill(pid, unix.SIGKILL)
	for {
		if _, err := unix.Wait4(pid, nil, 0, nil); err != unix.EINTR {
			return
		}
	}
}

// Eventually calls cond until it reports true or an error, or until timeout
// has passed; it returns an error that says what was awaited. It polls,
// backing off from 1 ms to 20 ms: /proc offers nothing to block on.
func Eventually(timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not within %v", what, timeout)
		}
		time.Sleep(wait) // a polling interval, not a synchronisation
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// capped is an io.Writer that keeps the first OutputCap bytes written to it
// and counts the rest.
type capped struct {
	mu      sync.Mutex
	b       strings.Builder
	dropped int
	done    chan struct{} // closed when the copy into it has ended
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := OutputCap - c.b.Len()
	if room >= len(p) {
		c.b.Write(p)
	} else {
		c.b.Write(p[:max(room, 0)])
		c.dropped += len(p) - max(room, 0)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped > 0 {
		return fmt.Sprintf("%s\n[... %d more bytes not kept]", c.b.String(), c.dropped)
	}
	return c.b.String()
}

var _ io.Writer = (*capped)(nil)
