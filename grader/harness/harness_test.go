package harness

import (
	"fmt"
	"os"
	"testing"
	"time"

	"chatlab/grader/procfs"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	if err := Init(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// TestKillTreeFindsEscapees: a program whose descendants leave its process
// group (setsid) and outlive their parent is still cleaned up completely.
func TestKillTreeFindsEscapees(t *testing.T) {
	// sh starts a child in a new session, and a child whose own parent
	// exits at once (an orphan), then waits.
	p, err := Start("/bin/sh", []string{"-c", "setsid sleep 300 & (sleep 301 &) ; echo ready; exec sleep 302"}, Options{})
	require.NoError(t, err)
	var before []procfs.Stat
	require.NoError(t, Eventually(5*time.Second, "three sleeps", func() (bool, error) {
		ds, err := p.Descendants()
		before = ds
		kids, _ := procfs.Children(os.Getpid())
		n := len(ds)
		for _, k := range kids {
			if k.Pid != p.Pid && k.Comm == "sleep" {
				n++ // the orphan came back to us: we are a subreaper
			}
		}
		return n >= 2 && p.Stdout() == "ready\n", err
	}))
	p.KillTree()
	require.True(t, p.Exited())
	kids, err := procfs.Children(os.Getpid())
	require.NoError(t, err)
	for _, k := range kids {
		assert.NotEqual(t, "sleep", k.Comm, "left behind: %+v", k)
	}
	for _, d := range before {
		st, err := procfs.ReadStat(d.Pid)
		if err == nil && st.Start == d.Start {
			t.Errorf("descendant %d (%s) still exists, state %c", d.Pid, d.Comm, st.State)
		}
	}
}

func TestOutputIsCapped(t *testing.T) {
	p, err := Start("/bin/sh", []string{"-c", "head -c 200000 /dev/zero | tr '\\0' x"}, Options{})
	require.NoError(t, err)
	require.True(t, p.Wait(5*time.Second))
	p.KillTree()
	out := p.Stdout()
	assert.Less(t, len(out), OutputCap+100)
	assert.Contains(t, out, fmt.Sprintf("[... %d more bytes not kept]", 200000-OutputCap))
}

func TestEventuallyTimesOut(t *testing.T) {
	err := Eventually(20*time.Millisecond, "nothing", func() (bool, error) { return false, nil })
	assert.ErrorContains(t, err, "waiting for nothing: not within 20ms")
}

// TestKillTreeRemovesShmNamedAfterTheTree: an object made by a program that
// exits before anyone sees it mapped (a skeleton stopping at a TODO just
// after shm_open) is removed by its name; another is left alone.
func TestKillTreeRemovesShmNamedAfterTheTree(t *testing.T) {
	other := "/dev/shm/chatlab-test-other-1x"
	require.NoError(t, os.WriteFile(other, nil, 0o600))
	t.Cleanup(func() { os.Remove(other) })
	p, err := Start("/bin/sh", []string{"-c", "touch /dev/shm/chatlab-$$; exit 3"}, Options{})
	require.NoError(t, err)
	mine := fmt.Sprintf("/dev/shm/chatlab-%d", p.Pid)
	t.Cleanup(func() { os.Remove(mine) })
	require.True(t, p.Wait(5*time.Second))
	require.FileExists(t, mine)
	p.KillTree()
	assert.NoFileExists(t, mine)
	assert.FileExists(t, other)
}
