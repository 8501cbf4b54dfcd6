package protocol

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// ServerConfig is a chat server's command line (handouts/protocol.md):
//
//	NAME [-port N] [-addr A] [-max-clients N] [-idle DURATION]
//	     [-max-rate N] [-strip-controls]
type ServerConfig struct {
	Addr       netip.Addr
	Port       int
	MaxClients int
	Idle       time.Duration
	// MaxRate is the most messages per second taken from one client (with
	// a burst of one second's worth); 0 means no limit. A server holds a
	// faster client back by reading it later, and never drops a message.
	MaxRate float64
	// StripControls: relay each message without its terminal control
	// sequences (the client's rules), for users of nc and telnet.
	StripControls bool
}

// ParseServerFlags parses a server's command line, or prints a usage line
// and exits with status 2. idleHelp says what -idle does for this server.
func ParseServerFlags(name string, args []string, defaultIdle time.Duration, idleHelp string) ServerConfig {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [-port N] [-addr A] [-max-clients N] [-idle DURATION] [-max-rate N] [-strip-controls]\n", name)
		fs.PrintDefaults()
	}
	port := fs.Int("port", DefaultPort, "TCP `port` to listen on (0: let the kernel choose)")
	addr := fs.String("addr", "0.0.0.0", "IPv4 `address` to listen on")
	maxClients := fs.Int("max-clients", DefaultMaxClients, "how many clients are served at once")
	idle := fs.Duration("idle", defaultIdle, idleHelp)
	maxRate := fs.Float64("max-rate", 0, "most `messages` per second taken from one client, a second's worth at once (0: no limit); a faster client is read later, never dropped")
	strip := fs.Bool("strip-controls", false, "relay messages without terminal control sequences (class use: nc and telnet users)")
	fs.Parse(args) // ExitOnError: exits 2 on a bad flag
	bad := func(format string, a ...any) {
		fmt.Fprintf(fs.Output(), name+": "+format+"\n", a...)
		fs.Usage()
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		bad("unexpected argument %q", fs.Arg(0))
	}
	if *port < 0 || *port > 65535 {
		bad("-port %d: not a TCP port (0 to 65535)", *port)
	}
	ip, err := netip.ParseAddr(*addr)
	if err != nil || !ip.Is4() {
		bad("-addr %q: not an IPv4 address", *addr)
	}
	if *maxClients < 1 {
		bad("-max-clients %d: must be at least 1", *maxClients)
	}
	if *maxRate != 0 && !(*maxRate >= 0.1 && *maxRate <= 1e6) {
		bad("-max-rate %v: must be 0 (no limit) or from 0.1 to 1000000 messages a second", *maxRate)
	}
	if *idle < 0 {
		bad("-idle %v: must not be negative", *idle)
	}
	return ServerConfig{Addr: ip, Port: *port, MaxClients: *maxClients, Idle: *idle, MaxRate: *maxRate, StripControls: *strip}
}
