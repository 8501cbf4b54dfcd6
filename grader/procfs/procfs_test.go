package procfs

import (
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStatOddComm(t *testing.T) {
	// A command name may hold spaces and parentheses; fields follow the last ')'.
	line := "4242 (a) b (c) S 17 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 987654 1000 100 18446744073709551615"
	st, err := parseStat([]byte(line))
	require.NoError(t, err)
	assert.Equal(t, Stat{Pid: 4242, Comm: "a) b (c", State: 'S', PPid: 17, PGrp: 4242, UTime: 7, STime: 3, Start: 987654}, st)
}

func TestParseHexAddrPort(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F97":                         "127.0.0.1:8087",
		"00000000:139F":                         "0.0.0.0:5023",
		"00000000000000000000000001000000:0050": "[::1]:80",
		"0000000000000000FFFF00000100007F:0050": "[::ffff:127.0.0.1]:80",
	} {
		got, err := parseHexAddrPort(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got.String(), in)
	}
	_, err := parseHexAddrPort("zz:1")
	assert.Error(t, err)
}

func TestSelf(t *testing.T) {
	st, err := ReadStat(os.Getpid())
	require.NoError(t, err)
	assert.Equal(t, os.Getppid(), st.PPid)
	assert.Contains(t, []byte("RS"), st.State)

	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	addrs, err := Listening(os.Getpid())
	require.NoError(t, err)
	var found []string
	for _, a := range addrs {
		found = append(found, a.String())
	}
	assert.Contains(t, found, l.Addr().String())
	on, err := ListeningOn(l.Addr().(*net.TCPAddr).Port)
	require.NoError(t, err)
	assert.True(t, on)

	// The server's end of a connection is found from the client's two
	// addresses, and it is one of this process's sockets.
	c, err := net.Dial("tcp4", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	srv, err := l.Accept()
	require.NoError(t, err)
	defer srv.Close()
	ino, err := ConnInode(netip.MustParseAddrPort(l.Addr().String()), netip.MustParseAddrPort(c.LocalAddr().String()))
	require.NoError(t, err)
	socks, err := Inodes(os.Getpid(), "socket")
	require.NoError(t, err)
	assert.Contains(t, slices.Collect(maps.Values(socks)), ino)
	_, err = ConnInode(netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"))
	assert.Error(t, err)

	// TCPSockets lists the listening socket and both ends of the connection,
	// each with its fd, and says which one listens.
	tcp, err := TCPSockets(os.Getpid())
	require.NoError(t, err)
	byAddr := map[string]TCPSocket{}
	for _, s := range tcp {
		byAddr[s.Local.String()+" "+s.Remote.String()] = s
	}
	lis, ok := byAddr[l.Addr().String()+" 0.0.0.0:0"]
	assert.True(t, ok && lis.Listening, "the listening socket in %v", tcp)
	conn, ok := byAddr[l.Addr().String()+" "+c.LocalAddr().String()]
	assert.True(t, ok && !conn.Listening && conn.Inode == ino, "the server's end in %v", tcp)
	assert.Equal(t, ino, socks[conn.Fd], "its fd")

	sig, err := ReadSignals(os.Getpid())
	require.NoError(t, err)
	assert.True(t, Has(sig.Caught, 17), "the Go runtime catches SIGCHLD")
	assert.False(t, Has(0, 1))

	// A test binary holds megabytes: its PSS is far above zero, and a
	// process that is not there has none.
	assert.Greater(t, PSS(os.Getpid()), int64(1000))
	assert.Zero(t, PSS(1<<30))
}
