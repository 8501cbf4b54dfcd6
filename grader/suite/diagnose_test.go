package suite

import (
	"io"
	"net"
	"os/exec"
	"strconv"
	"testing"

	"chatlab/grader/harness"
	"chatlab/grader/procfs"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBlockedIn: blockedIn names a single-threaded process's blocking call
// when it is one that stops a server (sleep, a read outside poll, a write
// into a full pipe), and says nothing of one waiting in poll.
func TestBlockedIn(t *testing.T) {
	for _, tc := range []struct {
		name string
		argv []string
		want string // "" for a server waiting in poll
	}{
		{"sleep", []string{"sleep", "60"}, "was asleep"},
		{"read", []string{"cat"}, "was blocked reading fd 0 (pipe:"},
		{"write", []string{"yes"}, "was blocked writing into a full pipe, fd 1 (pipe:"},
		{"poll", []string{bin["c_server_OK"], "-port", freePort(t)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
			stdin, err := cmd.StdinPipe() // kept open: cat blocks reading it
			require.NoError(t, err)
			defer stdin.Close()
			stdout, err := cmd.StdoutPipe() // never read: yes fills it
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			defer func() {
				cmd.Process.Kill()
				go io.Copy(io.Discard, stdout)
				cmd.Wait()
			}()
			var got, hint string
			err = harness.Eventually(wait, tc.name+" to block", func() (bool, error) {
				got, hint = blockedIn(cmd.Process.Pid)
				if tc.want == "" { // the server: once it listens, it waits in poll
					ports, err := procfs.Listening(cmd.Process.Pid)
					return len(ports) > 0 && got == "", err
				}
				return got != "", nil
			})
			require.NoError(t, err)
			if tc.want == "" {
				got, hint = blockedIn(cmd.Process.Pid)
				assert.Empty(t, got, "pid %d", cmd.Process.Pid)
				return
			}
			assert.Contains(t, got, tc.want, "pid "+strconv.Itoa(cmd.Process.Pid))
			assert.NotEmpty(t, hint)
		})
	}
}

// freePort is a TCP port that nothing listened on a moment ago.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestSkippedAhead: a message of the same sender arriving ahead of its
// turn is named; a notice, another sender's line, or an extra line is not.
func TestSkippedAhead(t *testing.T) {
	want := []string{"user1: a", "user1: b", "user1: c", "* user1 left"}
	assert.Equal(t, `"user1: c" came where "user1: b" was due: user1's messages in between were lost, and later ones still came`,
		skippedAhead(want, []string{"user1: a", "user1: c"}))
	assert.Empty(t, skippedAhead(want, []string{"user1: a", "* user1 left"}), "a notice ahead: the last line dropped, no overwrite")
	assert.Empty(t, skippedAhead(want, []string{"user1: a", "user2: c"}), "another sender's line")
	assert.Empty(t, skippedAhead(want, []string{"user1: a", "user1: x"}), "a line that was never sent")
	assert.Empty(t, skippedAhead(want, []string{"user1: a"}), "nothing differs, lines missing at the end")
	assert.Empty(t, skippedAhead(want, want))
}
