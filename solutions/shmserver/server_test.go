package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The protocol and the design are checked by the grader's shm suite, which
// grader/suite's tests run against this server; these tests cover what is
// particular to starting and stopping it.

var serverBin string

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, func(dir string) (err error) {
		serverBin, err = harness.BuildGo(".", dir, "chat_server_shm")
		return err
	}))
}

func shmPath(pid int) string { return fmt.Sprintf("/dev/shm/chatlab-%d", pid) }

// TestFailedStartLeavesNoShm: a server that cannot listen exits 1, says why,
// and removes the shared memory object it had created.
func TestFailedStartLeavesNoShm(t *testing.T) {
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	require.NoError(t, err)
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	p, err := harness.Start(serverBin, []string{"-port", port}, harness.Options{})
	require.NoError(t, err)
	require.True(t, p.Wait(5*time.Second))
	p.KillTree()
	assert.Equal(t, 1, p.ExitState().ExitCode())
	assert.Contains(t, p.Stderr(), "address already in use")
	assert.NoFileExists(t, shmPath(p.Pid))
}

func TestFdLimitTooLow(t *testing.T) {
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	p, err := harness.Start(serverBin, []string{"-port", "0", "-max-clients", strconv.FormatUint(lim.Max, 10)}, harness.Options{})
	require.NoError(t, err)
	require.True(t, p.Wait(5*time.Second))
	p.KillTree()
	assert.Equal(t, 1, p.ExitState().ExitCode())
	assert.Contains(t, p.Stderr(), "ulimit -n")
}

// TestShutdownUnlinks: the object exists while the server runs, mapped by
// it, and is gone once SIGTERM has been handled.
func TestShutdownUnlinks(t *testing.T) {
	p, err := harness.Start(serverBin, []string{"-port", "0", "-idle", "0"}, harness.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { p.KillTree() })
	require.NoError(t, harness.Eventually(5*time.Second, "the server to listen", func() (bool, error) {
		ports, err := procfs.Listening(p.Pid)
		return len(ports) > 0, err
	}))
	maps, err := procfs.ShmMappings(p.Pid)
	require.NoError(t, err)
	assert.Equal(t, []string{shmPath(p.Pid)}, maps)
	assert.FileExists(t, shmPath(p.Pid))
	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.True(t, p.Wait(5*time.Second))
	assert.Equal(t, 0, p.ExitState().ExitCode())
	assert.NoFileExists(t, shmPath(p.Pid))
	assert.Contains(t, p.Stderr(), "unlinked")
}
