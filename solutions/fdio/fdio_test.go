package fdio

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestDrop(t *testing.T) {
	buf := make([]byte, 0, 100)
	buf = append(buf, "hello world"...)
	base := &buf[:1][0]
	buf = Drop(buf, 6)
	assert.Equal(t, "world", string(buf))
	assert.Same(t, base, &buf[:1][0], "the array is kept")
	buf = Drop(buf, 5)
	assert.Empty(t, buf)
	assert.Equal(t, 100, cap(buf), "an emptied small buffer is kept for reuse")

	big := make([]byte, 1<<20)
	assert.Nil(t, Drop(big, len(big)), "a drained large backlog is released")
}

func pipe(t *testing.T) (r, w int) {
	var p [2]int
	require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC))
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	require.NoError(t, SetNonblock(p[0]))
	require.NoError(t, SetNonblock(p[1]))
	return p[0], p[1]
}

// TestRawIONeedsNonblock: Read and Write refuse a blocking descriptor (a
// raw read on it could block the child's only thread), and work on a
// non-blocking one.
func TestRawIONeedsNonblock(t *testing.T) {
	var p [2]int
	require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC))
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	assert.Panics(t, func() { Read(p[0], make([]byte, 1)) })
	assert.Panics(t, func() { Write(p[1], []byte("x")) })

	r, w := pipe(t)
	n, err := Read(r, make([]byte, 8))
	assert.Equal(t, unix.EAGAIN, err, "nothing to read: EAGAIN, not a block")
	assert.Zero(t, n)
	n, err = Write(w, []byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	buf := make([]byte, 8)
	n, err = Read(r, buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))
}

// TestPollerIsPoll: Poller.Poll reports what poll(2) would: nothing ready
// (timeout 0, and a timeout that runs out), POLLIN once bytes wait,
// POLLOUT, POLLHUP once the writer is gone, negative fds ignored.
func TestPollerIsPoll(t *testing.T) {
	p, err := NewPoller()
	require.NoError(t, err)
	r, w := pipe(t)
	pfds := []unix.PollFd{{Fd: int32(r), Events: unix.POLLIN}, {Fd: -1, Events: unix.POLLIN}}
	n, err := p.Poll(pfds, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "an empty pipe")
	start := time.Now()
	n, err = p.Poll(pfds, 30)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond, "the timeout is waited out")

	_, err = Write(w, []byte("x"))
	require.NoError(t, err)
	n, err = p.Poll(pfds, -1)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, int16(unix.POLLIN), pfds[0].Revents)
	assert.Zero(t, pfds[1].Revents)

	out := []unix.PollFd{{Fd: int32(w), Events: unix.POLLOUT}}
	n, err = p.Poll(out, -1)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, int16(unix.POLLOUT), out[0].Revents)

	unix.Close(w)
	n, err = p.Poll(pfds, -1)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.NotZero(t, pfds[0].Revents&unix.POLLHUP, "the writer has gone")
}

// TestPollerParksTheGoroutine: with one P, a goroutine waiting in Poll
// must leave the thread to the others: here the goroutine that writes the
// byte it waits for. A wait made in a raw system call would hold the only
// P, and this test would hang.
func TestPollerParksTheGoroutine(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	p, err := NewPoller()
	require.NoError(t, err)
	r, w := pipe(t)
	done := make(chan int, 1)
	go func() {
		n, _ := p.Poll([]unix.PollFd{{Fd: int32(r), Events: unix.POLLIN}}, -1)
		done <- n
	}()
	runtime.Gosched() // let it reach the wait (if it has not, Poll finds the byte at once: the test still passes, it proves less)
	_, err = Write(w, []byte("x"))
	require.NoError(t, err)
	select {
	case n := <-done:
		assert.Equal(t, 1, n)
	case <-time.After(5 * time.Second):
		t.Fatal("Poll did not return: it held the only P")
	}
}

// TestChildrenUseFdio: the children of labs 2 and 3 read, write and wait
// only through this package (the package comment says why): one
// unix.Read, unix.Write, unix.Poll or unix.EpollWait in a child brings
// back the wake-up of sysmon and a spare thread at every message.
func TestChildrenUseFdio(t *testing.T) {
	for _, path := range []string{"../server/child.go", "../shmserver/child.go"} {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, call := range []string{"unix.Read(", "unix.Write(", "unix.Poll(", "unix.EpollWait(", "syscall.Read(", "syscall.Write("} {
			assert.NotContains(t, string(b), call, "%s: use fdio (Read, Write, Poller, Epoll) in a child", path)
		}
	}
}
