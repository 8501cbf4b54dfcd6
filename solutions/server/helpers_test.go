package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"
	"chatlab/grader/wire"

	"github.com/stretchr/testify/require"
)

// lineWait bounds each wait for a protocol line. It is long on purpose: a
// correct server answers in microseconds, and the bound only decides how
// long a broken one takes to fail, also on a loaded 2-core machine.
const lineWait = 5 * time.Second

var serverBin string

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, func(dir string) (err error) {
		serverBin, err = harness.BuildGo(".", dir, "chat_server")
		return err
	}))
}

// testServer is one chat_server under test, killed with its whole tree when
// the test ends, pass or fail.
type testServer struct {
	t    *testing.T
	proc *harness.Proc
	port int
	next int // the id the next client should get
}

// startServer starts chat_server -port 0 with extra args and waits until it
// listens; the port is read from /proc, as the grader does.
func startServer(t *testing.T, opt harness.Options, args ...string) *testServer {
	t.Helper()
	p, err := harness.Start(serverBin, append([]string{"-port", "0"}, args...), opt)
	require.NoError(t, err)
	t.Cleanup(func() {
		if left := p.KillTree(); len(left) > 0 && !t.Failed() {
			// A passing test must not leave the server's children running.
			t.Logf("killed at cleanup: %v", left)
		}
		if t.Failed() {
			t.Logf("server stderr:\n%s", p.Stderr())
		}
	})
	s := &testServer{t: t, proc: p, next: 1}
	require.NoError(t, harness.Eventually(lineWait, "the server to listen (ss -ltnp)", func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("the server exited: %v\n%s", p.ExitState(), p.Stderr())
		}
		addrs, err := procfs.Listening(p.Pid)
		if len(addrs) > 0 {
			s.port = int(addrs[0].Port())
		}
		return len(addrs) > 0, err
	}))
	return s
}

// dial connects without reading anything.
func (s *testServer) dial(name string) *wire.Conn {
	s.t.Helper()
	c, err := wire.Dial(name, s.port, lineWait)
	require.NoError(s.t, err)
	s.t.Cleanup(func() { c.Close() })
	return c
}

// join connects n clients one after the other; each reads its welcome and
// every client already in reads its "joined" line. It returns the clients
// and their ids.
func (s *testServer) join(others []*wire.Conn, n int) ([]*wire.Conn, []int) {
	s.t.Helper()
	var conns []*wire.Conn
	var ids []int
	for range n {
		id := s.next
		s.next++
		c := s.dial(fmt.Sprintf("user%d", id))
		require.NoError(s.t, c.Expect(lineWait, fmt.Sprintf("* welcome user%d", id)))
		for _, o := range slices.Concat(others, conns) {
			require.NoError(s.t, o.Expect(lineWait, fmt.Sprintf("* user%d joined", id)))
		}
		conns = append(conns, c)
		ids = append(ids, id)
	}
	return conns, ids
}

// children returns the server's live (non-zombie) children and its zombies.
func (s *testServer) children() (live, zombies []procfs.Stat) {
	s.t.Helper()
	kids, err := procfs.Children(s.proc.Pid)
	require.NoError(s.t, err)
	for _, k := range kids {
		if k.State == 'Z' {
			zombies = append(zombies, k)
		} else {
			live = append(live, k)
		}
	}
	return live, zombies
}

// waitProcesses waits until the server has exactly n live children and no
// zombie (ps -o pid,ppid,stat,args --ppid PID).
func (s *testServer) waitProcesses(n int) {
	s.t.Helper()
	var live, zombies []procfs.Stat
	err := harness.Eventually(lineWait, fmt.Sprintf("%d children and no zombie", n), func() (bool, error) {
		live, zombies = s.children()
		return len(live) == n && len(zombies) == 0, nil
	})
	require.NoError(s.t, err, "children: %v, zombies: %v", live, zombies)
}

// childOf returns the pid of the child that serves user id, found by its
// argv ("chat_server: userN").
func (s *testServer) childOf(id int) int {
	s.t.Helper()
	live, _ := s.children()
	for _, k := range live {
		args, err := procfs.Cmdline(k.Pid)
		if err == nil && len(args) > 0 && strings.HasSuffix(args[0], fmt.Sprintf(": user%d", id)) {
			return k.Pid
		}
	}
	s.t.Fatalf("no child of the server serves user%d (children: %v)", id, live)
	return 0
}

// expectAll makes every client read the same lines.
func expectAll(t *testing.T, conns []*wire.Conn, lines ...string) {
	t.Helper()
	for _, c := range conns {
		require.NoError(t, c.Expect(lineWait, lines...))
	}
}
