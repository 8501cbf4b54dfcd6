// Package procfs reads what the grader needs to know about running programs
// from /proc: processes and their parents, states and CPU time; open file
// descriptors, pipes and sockets; listening TCP ports; signal dispositions.
// It reads /proc directly instead of parsing ps or ss, but each function
// names the command a student can run to see the same thing by hand.
package procfs

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Stat is the part of /proc/PID/stat the grader uses (see proc(5)).
type Stat struct {
	Pid   int
	Comm  string // the command name, at most 15 bytes
	State byte   // R running, S sleeping, D disk sleep, Z zombie, T stopped, ...
	PPid  int
	PGrp  int
	UTime uint64 // user CPU time, in clock ticks
	STime uint64 // system CPU time, in clock ticks
	Start uint64 // start time after boot, in clock ticks: with Pid, names a process
	// ExitCode is a zombie's exit status in waitpid(2)'s form (field 52,
	// Linux 3.5 on): status<<8, or the killing signal, plus 0x80 if it
	// dumped core. 0 for a live process.
	ExitCode int
}

// TicksPerSecond is the unit of Stat's CPU times (USER_HZ, sysconf(_SC_CLK_TCK)),
// 100 on every Linux the grader runs on.
const TicksPerSecond = 100

// ReadStat reads /proc/PID/stat. By hand: ps -o pid,ppid,pgid,stat,comm -p PID.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	return parseStat(b)
}

// parseStat parses the text of /proc/PID/stat. The command name is in
// parentheses and may itself hold spaces and parentheses, so the fields
// after it are found after the last ')'.
func parseStat(b []byte) (Stat, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Stat{}, fmt.Errorf("procfs: malformed stat %q", b)
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 20 {
		return Stat{}, fmt.Errorf("procfs: short stat %q", b)
	}
	num := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	st := Stat{
		Pid: pid, Comm: string(b[open+1 : end]), State: f[0][0],
		PPid: int(num(4)), PGrp: int(num(5)),
		UTime: num(14), STime: num(15), Start: num(22),
	}
	if len(f) >= 52-2 {
		st.ExitCode = int(num(52))
	}
	return st, nil
}

// All returns the stat of every process on the system. Processes that exit
// while it reads are left out.
func All() ([]Stat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var all []Stat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := ReadStat(pid); err == nil {
			all = append(all, st)
		}
	}
	return all, nil
}

// Children returns the processes whose parent is pid, in pid order, found by
// scanning every process's parent (/proc/PID/task/TID/children lists only
// the children of one thread, and a Go program has many).
// By hand: ps -o pid,ppid,stat,args --ppid PID.
func Children(pid int) ([]Stat, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	var kids []Stat
	for _, st := range all {
		if st.PPid == pid {
			kids = append(kids, st)
		}
	}
	return kids, nil
}

// Descendants returns every process below pid: children, their children,
// and so on, parents before children.
func Descendants(pid int) ([]Stat, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	byParent := map[int][]Stat{}
	for _, st := range all {
		byParent[st.PPid] = append(byParent[st.PPid], st)
	}
	var out []Stat
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, st := range byParent[p] {
			out = append(out, st)
			queue = append(queue, st.Pid)
		}
	}
	return out, nil
}

// Cmdline returns a process's argument vector as it shows it (a program may
// rewrite its argv[0]). By hand: ps -o args -p PID.
func Cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), nil
}

// Fds returns a process's open file descriptors and what each refers to,
// such as "pipe:[1234]", "socket:[5678]" or a path. By hand: ls -l /proc/PID/fd.
func Fds(pid int) (map[int]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fds := make(map[int]string, len(ents))
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			fds[fd] = target
		}
	}
	return fds, nil
}

// Inodes returns the inodes of a process's open fds of one kind ("pipe" or
// "socket"), by fd.
func Inodes(pid int, kind string) (map[int]uint64, error) {
	fds, err := Fds(pid)
	if err != nil {
		return nil, err
	}
	out := map[int]uint64{}
	prefix := kind + ":["
	for fd, target := range fds {
		if strings.HasPrefix(target, prefix) && strings.HasSuffix(target, "]") {
			if ino, err := strconv.ParseUint(target[len(prefix):len(target)-1], 10, 64); err == nil {
				out[fd] = ino
			}
		}
	}
	return out, nil
}

// Listening returns the TCP addresses a process listens on, by matching its
// socket inodes with the LISTEN rows (state 0A) of /proc/net/tcp and
// /proc/net/tcp6. By hand: ss -ltnp.
func Listening(pid int) ([]netip.AddrPort, error) {
	socks, err := Inodes(pid, "socket")
	if err != nil {
		return nil, err
	}
	mine := map[uint64]bool{}
	for _, ino := range socks {
		mine[ino] = true
	}
	var out []netip.AddrPort
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		rows, err := readTCPTable(table)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if r.state == tcpListen && mine[r.inode] {
				out = append(out, r.local)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out, nil
}

// TCPSocket is one TCP socket that a process holds: its fd, its inode, its
// two addresses (Remote is 0.0.0.0:0 or [::]:0 when it listens) and whether
// it listens.
type TCPSocket struct {
	Fd            int
	Inode         uint64
	Local, Remote netip.AddrPort
	Listening     bool
}

// TCPSockets returns the TCP sockets among a process's fds, in fd order,
// by matching its socket inodes with the rows of /proc/net/tcp and
// /proc/net/tcp6 (other sockets, such as Unix ones, are left out). By hand:
// ls -l /proc/PID/fd, then ss -tanpe.
func TCPSockets(pid int) ([]TCPSocket, error) {
	socks, err := Inodes(pid, "socket")
	if err != nil {
		return nil, err
	}
	fdOf := map[uint64][]int{}
	for fd, ino := range socks {
		fdOf[ino] = append(fdOf[ino], fd)
	}
	var out []TCPSocket
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		rows, err := readTCPTable(table)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			for _, fd := range fdOf[r.inode] {
				out = append(out, TCPSocket{Fd: fd, Inode: r.inode, Local: r.local, Remote: r.remote, Listening: r.state == tcpListen})
			}
			delete(fdOf, r.inode) // a socket has one row
		}
	}
	slices.SortFunc(out, func(a, b TCPSocket) int { return a.Fd - b.Fd })
	return out, nil
}

// ConnInode returns the inode of the socket whose local address is local
// and whose peer is remote: the server's end of a connection, seen from the
// client's two addresses. By hand: ss -tnpe 'dport = :PORT'.
func ConnInode(local, remote netip.AddrPort) (uint64, error) {
	r, err := findConn(local, remote)
	return r.inode, err
}

// findConn returns the /proc/net/tcp{,6} row of the connection from local
// to remote.
func findConn(local, remote netip.AddrPort) (tcpRow, error) {
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		rows, err := readTCPTable(table)
		if err != nil {
			return tcpRow{}, err
		}
		for _, r := range rows {
			if r.state != tcpListen && r.local.Port() == local.Port() && r.remote.Port() == remote.Port() &&
				r.local.Addr().Unmap() == local.Addr().Unmap() && r.remote.Addr().Unmap() == remote.Addr().Unmap() {
				return r, nil
			}
		}
	}
	return tcpRow{}, fmt.Errorf("no socket from %s to %s in /proc/net/tcp", local, remote)
}

// RecvQueue returns how many bytes wait unread in the receive queue of the
// socket whose local address is local and whose peer is remote: what the
// kernel holds for a program that has not read it yet. By hand: ss -tn, the
// Recv-Q column.
func RecvQueue(local, remote netip.AddrPort) (int, error) {
	r, err := findConn(local, remote)
	return r.rxQueue, err
}

// CPU is a process's CPU time as TreeCPU reads it.
type CPU struct {
	Comm  string
	Start uint64 // with the pid, names the process
	Ns    uint64 // nanoseconds on a CPU, summed over its live threads
}

// TreeCPU returns the CPU time that pid and each of its live descendants
// have used so far, by pid, to the nanosecond: the first field of each
// thread's /proc/PID/task/TID/schedstat (clock ticks, as in
// /proc/PID/stat, would need long windows to tell a quiet process from a
// busy one). With two readings, CPUBetween gives what a whole process tree
// used in between. By hand: ps -L -o pid,tid,time --ppid PID -p PID.
func TreeCPU(pid int) (map[int]CPU, error) {
	st, err := ReadStat(pid)
	if err != nil {
		return nil, err
	}
	ds, err := Descendants(pid)
	out := map[int]CPU{}
	for _, p := range append([]Stat{st}, ds...) {
		c := CPU{Comm: p.Comm, Start: p.Start}
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p.Pid))
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", p.Pid, task.Name()))
			if err != nil {
				continue
			}
			if f := strings.Fields(string(b)); len(f) > 0 {
				ns, _ := strconv.ParseUint(f[0], 10, 64)
				c.Ns += ns
			}
		}
		out[p.Pid] = c
	}
	return out, err
}

// CPUBetween returns the nanoseconds a process tree used between two
// TreeCPU readings, by pid: for a process in both, the difference; for one
// that started in between, all it used. A process or thread that exited in
// between is not counted.
func CPUBetween(before, after map[int]CPU) map[int]uint64 {
	used := map[int]uint64{}
	for pid, a := range after {
		if b, ok := before[pid]; ok && b.Start == a.Start {
			if a.Ns > b.Ns {
				used[pid] = a.Ns - b.Ns
			}
		} else {
			used[pid] = a.Ns
		}
	}
	return used
}

// ListeningOn reports whether any process listens on TCP port port.
// By hand: ss -ltn 'sport = :PORT'.
func ListeningOn(port int) (bool, error) {
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		rows, err := readTCPTable(table)
		if err != nil {
			return false, err
		}
		for _, r := range rows {
			if r.state == tcpListen && int(r.local.Port()) == port {
				return true, nil
			}
		}
	}
	return false, nil
}

const tcpListen = 0x0A

type tcpRow struct {
	local, remote netip.AddrPort
	state         int
	inode         uint64
	rxQueue       int
}

// readTCPTable parses /proc/net/tcp or tcp6. A missing file (no IPv6) is an
// empty table.
func readTCPTable(path string) ([]tcpRow, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []tcpRow
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		local, err := parseHexAddrPort(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		remote, err := parseHexAddrPort(f[2])
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		state, _ := strconv.ParseUint(f[3], 16, 8)
		inode, _ := strconv.ParseUint(f[9], 10, 64)
		var rx uint64
		if _, q, ok := strings.Cut(f[4], ":"); ok { // tx_queue:rx_queue, in hex
			rx, _ = strconv.ParseUint(q, 16, 32)
		}
		rows = append(rows, tcpRow{local: local, remote: remote, state: int(state), inode: inode, rxQueue: int(rx)})
	}
	return rows, sc.Err()
}

// parseHexAddrPort parses "0100007F:1F97": the address as the kernel's
// 32-bit words printed in host (little-endian) byte order, the port in hex.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	raw, err := hex.DecodeString(a)
	if !ok || err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	for i := 0; i < len(raw); i += 4 { // each 32-bit word is little-endian
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// Signals is a process's signal dispositions from /proc/PID/status, as bit
// masks (bit n-1 for signal n). By hand: grep Sig /proc/PID/status.
type Signals struct {
	Ignored, Caught, Blocked uint64
}

// ReadSignals reads SigIgn, SigCgt and SigBlk of a process.
func ReadSignals(pid int) (Signals, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Signals{}, err
	}
	var s Signals
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		mask, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		switch k {
		case "SigIgn":
			s.Ignored = mask
		case "SigCgt":
			s.Caught = mask
		case "SigBlk":
			s.Blocked = mask
		}
	}
	return s, nil
}

// Has reports whether signal number sig is in mask.
func Has(mask uint64, sig int) bool { return sig > 0 && mask&(1<<(sig-1)) != 0 }

// ShmMappings returns the POSIX shared memory objects (files under
// /dev/shm) a process has mapped, each once, without the " (deleted)" the
// kernel adds once a name is unlinked. By hand: grep /dev/shm /proc/PID/maps.
func ShmMappings(pid int) ([]string, error) {
	objs, err := ShmObjects(pid)
	var out []string
	for _, o := range objs {
		if path := strings.TrimSuffix(o.Path, " (deleted)"); !slices.Contains(out, path) {
			out = append(out, path)
		}
	}
	return out, err
}

// ShmObject is a /dev/shm object a process maps, named by its device and
// inode, which stay the same whatever its name and after it is unlinked.
type ShmObject struct {
	Dev, Inode string // as /proc/PID/maps prints them: "00:1a", "12345"
	Path       string // "/dev/shm/NAME", with " (deleted)" once unlinked
	Shared     bool   // mapped MAP_SHARED ("rw-s"), at least once
}

// ShmObjects returns the /dev/shm objects a process maps, each once.
// By hand: grep /dev/shm /proc/PID/maps (columns 4 and 5 are device and
// inode; the permissions of column 2 end in s for MAP_SHARED, p for
// MAP_PRIVATE).
func ShmObjects(pid int) ([]ShmObject, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	var out []ShmObject
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.Index(line, "/dev/shm/")
		f := strings.Fields(line)
		if i < 0 || len(f) < 6 {
			continue
		}
		o := ShmObject{Dev: f[3], Inode: f[4], Path: line[i:], Shared: strings.HasSuffix(f[1], "s")}
		if j := slices.IndexFunc(out, func(x ShmObject) bool { return x.Dev == o.Dev && x.Inode == o.Inode }); j >= 0 {
			out[j].Shared = out[j].Shared || o.Shared
		} else {
			out = append(out, o)
		}
	}
	return out, nil
}

// PSS returns a process's proportional set size in KiB, from
// /proc/PID/smaps_rollup (0 if it cannot be read): its private memory plus
// its share of what it shares, so the PSS of a process tree adds up.
func PSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// TreeRunning reports whether any thread of pid or of its descendants is
// running or in uninterruptible sleep (state R or D in
// /proc/PID/task/TID/stat): the tree is busy, not waiting for input.
// By hand: ps -L -o pid,tid,stat --ppid PID -p PID.
func TreeRunning(pid int) bool {
	pids := []int{pid}
	if ds, err := Descendants(pid); err == nil {
		for _, d := range ds {
			pids = append(pids, d.Pid)
		}
	}
	for _, p := range pids {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", p, task.Name()))
			if err != nil {
				continue
			}
			if st, err := parseStat(b); err == nil && (st.State == 'R' || st.State == 'D') {
				return true
			}
		}
	}
	return false
}
