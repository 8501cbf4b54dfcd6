package main

import (
	"io"
	"log"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// stuckCase is a parent with one client whose child has been behind for
// three seconds (past stuckLimit), by the parent's account: it was sent
// message 5 and acknowledged message 3. The child is a sleep process, so
// that a wrong SIGKILL is seen and harms nothing.
type stuckCase struct {
	s      *server
	c      *client
	child  *exec.Cmd
	exited chan error // the child's exit, once
	up     [2]int     // the pipe up: [0] is the parent's end
	down   [2]int     // the pipe down: [1] is the parent's end
}

func newStuckCase(t *testing.T) *stuckCase {
	t.Helper()
	child := exec.Command("sleep", "60")
	require.NoError(t, child.Start())
	k := &stuckCase{child: child, exited: make(chan error, 1)}
	go func() { k.exited <- child.Wait() }()
	t.Cleanup(func() { child.Process.Kill(); <-k.exited })
	require.NoError(t, unix.Pipe2(k.up[:], unix.O_NONBLOCK|unix.O_CLOEXEC))
	require.NoError(t, unix.Pipe2(k.down[:], unix.O_NONBLOCK|unix.O_CLOEXEC))
	t.Cleanup(func() {
		for _, fd := range append(k.up[:], k.down[:]...) {
			unix.Close(fd) // some were closed by the server: EBADF, ignored
		}
	})
	k.c = &client{id: 7, pid: child.Process.Pid, in: k.up[0], out: k.down[1], reading: true, sent: 5, acked: 3}
	k.s = &server{
		log:     log.New(io.Discard, "", 0),
		clients: map[int]*client{7: k.c}, byPid: map[int]*client{k.c.pid: k.c},
		byFd: map[int]*client{k.up[0]: k.c, k.down[1]: k.c},
		epfd: -1, active: 1, buf: make([]byte, 64<<10),
	}
	return k
}

// alive reports whether the child process has not been killed.
func (k *stuckCase) alive() bool { return unix.Kill(k.child.Process.Pid, 0) == nil }

// TestStuckJudgesTheChildNotTheParent: a parent that was busy for seconds
// (hundreds of senders at once, make bench at 500 clients) has neither
// read what a child wrote nor written what it owes it. The child is judged
// on what it did: one whose acknowledgement waits in the pipe up, or that
// took records from its pipe down, is alive; one that did neither is killed
// and its client kicked.
func TestStuckJudgesTheChildNotTheParent(t *testing.T) {
	now := time.Now()

	t.Run("acknowledgement unread", func(t *testing.T) {
		k := newStuckCase(t)
		k.c.behind = now.Add(-3 * time.Second)
		ack := appendRecord(nil, record{kind: recAck, a: 5})
		_, err := unix.Write(k.up[1], ack)
		require.NoError(t, err)
		timeout := k.s.stuck(now)
		assert.False(t, k.c.gone, "a child whose acknowledgement waited in its pipe was kicked")
		assert.True(t, k.alive(), "a child whose acknowledgement waited in its pipe was killed")
		assert.Equal(t, uint32(5), k.c.acked)
		assert.Equal(t, -1, timeout, "nothing is owed: no wait")
	})

	t.Run("records unwritten", func(t *testing.T) {
		k := newStuckCase(t)
		k.c.behind = now.Add(-3 * time.Second)
		k.c.pending = appendRecord(nil, record{kind: recMsg, a: 1, b: 5, c: 2})
		timeout := k.s.stuck(now)
		assert.False(t, k.c.gone, "a child that took the records the parent had not written was kicked")
		assert.True(t, k.alive())
		assert.Empty(t, k.c.pending, "the records owed were written")
		assert.Equal(t, now, k.c.behind, "a sign of life starts a new wait")
		assert.Equal(t, int(stuckLimit/time.Millisecond)+1, timeout)
	})

	t.Run("stuck", func(t *testing.T) {
		k := newStuckCase(t)
		k.c.behind = now.Add(-3 * time.Second)
		k.s.stuck(now)
		assert.True(t, k.c.gone, "a child that took and acknowledged nothing for 3 s was not kicked")
		select {
		case err := <-k.exited:
			k.exited <- err // for the cleanup
			var ws syscall.WaitStatus
			if ee, ok := err.(*exec.ExitError); ok {
				ws, _ = ee.Sys().(syscall.WaitStatus)
			}
			assert.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "its process ended otherwise than by SIGKILL: %v", err)
		case <-time.After(5 * time.Second):
			t.Error("its process was not killed")
		}
	})
}
