package suite

import (
	"embed"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"chatlab/grader/harness"
	"chatlab/grader/wire"
)

// Scenarios: the tests that are one conversation, from top to bottom, are
// data files in testdata/, read by one small engine, in the manner of Go's
// cmd/go script tests. Adding such a test is adding a file; its row in the
// handouts' grading tables follows. A file reads:
//
//	# server/relay: a message reaches every other client as "userN: TEXT"
//	points 3
//	flags -max-clients 2        (optional: the server's flags)
//	hint relay each message ... (the hint of the steps that follow)
//	join 3                      (user1..user3 connect; welcome and joined lines checked)
//	dial third                  (one more connection, nothing read)
//	echoes user1                (user1's own messages coming back are judged: no-echo)
//	user1 send "hello\n"        (bytes, as a Go string; "a"*1000 repeats; + joins)
//	user2 expect "user1: hello" (one line, exactly)
//	user1 close | reset | shutdown
//	user2 closed                (the server closes user2's connection)
//
// "{0..49}" in a string repeats the step for 0 to 49: one send of all of
// them, or one expected line each. Other lines starting with "#" are
// comments. The steps double as the by-hand reproduction a failure prints.
//
//go:embed testdata/*.chat
var scriptFiles embed.FS

// script is one parsed scenario file.
type script struct {
	file   string
	test   Test
	flags  []string
	steps  []step
	byHand string
}

// step is one line of a scenario: who does what with which text.
type step struct {
	line  int
	who   string // a client's name, or "" for join, dial, echoes
	verb  string // join, dial, echoes, send, expect, close, reset, shutdown, closed
	n     int    // join's count
	texts []string
	hint  string
}

var (
	scriptsOnce sync.Once
	scripts     map[string]*script // by test name
	scriptErr   error
)

// loadScripts parses every scenario file once.
func loadScripts() (map[string]*script, error) {
	scriptsOnce.Do(func() {
		scripts = map[string]*script{}
		entries, err := scriptFiles.ReadDir("testdata")
		if err != nil {
			scriptErr = err
			return
		}
		for _, e := range entries {
			b, err := scriptFiles.ReadFile(path.Join("testdata", e.Name()))
			if err == nil {
				var sc *script
				if sc, err = parseScript(e.Name(), string(b)); err == nil {
					scripts[sc.test.Name] = sc
					continue
				}
			}
			scriptErr = err
			return
		}
	})
	return scripts, scriptErr
}

// scripted returns the test of the scenario named name ("server/relay").
// A scenario that does not parse is a bug of the kit: the suite's own tests
// parse them all.
func scripted(name string) *Test {
	all, err := loadScripts()
	if err != nil {
		panic(fmt.Sprintf("grader scenarios: %v", err))
	}
	sc, ok := all[name]
	if !ok {
		panic("grader scenarios: no file for " + name)
	}
	t := sc.test
	return &t
}

var headRE = regexp.MustCompile(`^# ([a-z0-9]+)/([a-z0-9-]+): (.+)$`)

func parseScript(file, text string) (*script, error) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	m := headRE.FindStringSubmatch(lines[0])
	if m == nil {
		return nil, fmt.Errorf("%s:1: the first line must be \"# lab/name: what it checks\"", file)
	}
	sc := &script{file: file, test: Test{Name: m[1] + "/" + m[2], Lab: m[1], What: m[3], Timeout: 10 * time.Second, NeedsWelcome: true}}
	hint := ""
	for i, l := range lines[1:] {
		n := i + 2
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		word, rest, _ := strings.Cut(l, " ")
		var err error
		switch word {
		case "points":
			sc.test.Points, err = strconv.Atoi(rest)
		case "timeout":
			sc.test.Timeout, err = time.ParseDuration(rest)
		case "flags":
			sc.flags = strings.Fields(rest)
		case "hint":
			hint = rest
		case "join":
			var k int
			k, err = strconv.Atoi(rest)
			sc.steps = append(sc.steps, step{line: n, verb: "join", n: k, hint: hint})
		case "dial", "echoes":
			sc.steps = append(sc.steps, step{line: n, verb: word, who: rest, hint: hint})
		default:
			verb, arg, _ := strings.Cut(rest, " ")
			st := step{line: n, who: word, verb: verb, hint: hint}
			switch verb {
			case "send", "expect":
				st.texts, err = parseExpr(arg)
			case "close", "reset", "shutdown", "closed":
				if arg != "" {
					err = fmt.Errorf("%s takes nothing after it", verb)
				}
			default:
				err = fmt.Errorf("unknown step %q", l)
			}
			if verb == "send" { // one write of all the repetitions
				st.texts = []string{strings.Join(st.texts, "")}
			}
			sc.steps = append(sc.steps, st)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, n, err)
		}
	}
	if sc.test.Points <= 0 {
		return nil, fmt.Errorf("%s: no points", file)
	}
	sc.byHand = sc.describe()
	s := sc // the closure's own
	sc.test.Run = func(t *T) { s.run(t) }
	return sc, nil
}

var (
	rangeRE  = regexp.MustCompile(`\{(\d+)\.\.(\d+)\}`)
	repeatRE = regexp.MustCompile(`^(".*")\*(\d+)$`)
)

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// parseExpr reads `"a"*3 + "b\n"`: Go-quoted strings, each optionally
// repeated, joined by +. A "{i..j}" range makes one text per number.
func parseExpr(expr string) ([]string, error) {
	var whole strings.Builder
	for term := range strings.SplitSeq(expr, " + ") {
		term = strings.TrimSpace(term)
		times := 1
		if m := repeatRE.FindStringSubmatch(term); m != nil {
			term, times = m[1], atoi(m[2])
		}
		s, err := strconv.Unquote(term)
		if err != nil {
			return nil, fmt.Errorf("not a quoted string: %s", term)
		}
		whole.WriteString(strings.Repeat(s, times))
	}
	text := whole.String()
	m := rangeRE.FindStringSubmatchIndex(text)
	if m == nil {
		return []string{text}, nil
	}
	from, _ := strconv.Atoi(text[m[2]:m[3]])
	to, _ := strconv.Atoi(text[m[4]:m[5]])
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, text[:m[0]]+strconv.Itoa(i)+text[m[1]:])
	}
	return out, nil
}

// run plays the scenario against a fresh server.
func (sc *script) run(t *T) {
	t.byHand = sc.byHand
	s := t.startServer(harness.Options{}, sc.flags...)
	conns := map[string]*wire.Conn{}
	var order []*wire.Conn
	did := "connected"
	for i := 0; i < len(sc.steps); i++ {
		st := sc.steps[i]
		c := conns[st.who]
		if c == nil && st.who != "" && st.verb != "dial" && st.verb != "echoes" {
			panic(fmt.Sprintf("%s:%d: %s has not connected", sc.file, st.line, st.who))
		}
		switch st.verb {
		case "join":
			s.joinHint = st.hint
			joined := s.join(order, st.n)
			s.joinHint = ""
			for _, c := range joined {
				conns[c.Name] = c
				order = append(order, c)
			}
			did = fmt.Sprintf("%d clients connected", len(order))
		case "dial":
			conns[st.who] = s.dial(st.who)
			did = "one more client (" + st.who + ") connected"
		case "echoes":
			conns[st.who].SkipPrefix = "" // this test judges the echo
		case "send":
			s.send(c, st.texts[0], st.who+" sends "+strconv.Quote(abbrev(st.texts[0])))
			did = st.who + " sent " + strconv.Quote(abbrev(st.texts[0]))
		case "expect":
			want := st.texts
			for i+1 < len(sc.steps) && sc.steps[i+1].verb == "expect" && sc.steps[i+1].who == st.who && sc.steps[i+1].hint == st.hint {
				i++
				want = append(want, sc.steps[i].texts...)
			}
			s.expect(c, did, st.hint, want...)
		case "close":
			c.Close()
			order = slices.DeleteFunc(order, func(x *wire.Conn) bool { return x == c })
			did = st.who + " closed its connection"
		case "reset":
			c.Reset()
			order = slices.DeleteFunc(order, func(x *wire.Conn) bool { return x == c })
			did = st.who + " reset its connection"
		case "shutdown":
			s.check(c.CloseWrite(), Failure{Did: "shutdown(SHUT_WR) on " + st.who + "'s connection", Hint: "the server reset the connection"})
			did = st.who + " shut down its sending side (as nc -N does)"
		case "closed":
			s.check(c.ExpectClosed(wait), Failure{Did: did + "; " + st.who + " reads", Expected: "the server closes " + st.who + "'s connection",
				Hint: st.hint})
		}
	}
	steps := "steps"
	if len(sc.steps) == 1 {
		steps = "step"
	}
	t.Logf("%s: %d %s as written in grader/suite/testdata/%s", sc.test.Name, len(sc.steps), steps, sc.file)
}

// describe tells how to play the scenario by hand with nc.
func (sc *script) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "your server -port 5015 %s in one terminal, then each client an nc localhost 5015 of its own (grader/suite/testdata/%s):",
		strings.Join(sc.flags, " "), sc.file)
	users := 0
	for _, st := range sc.steps {
		switch st.verb {
		case "join":
			users += st.n
			fmt.Fprintf(&b, "\n  start %d nc: user%d..user%d", st.n, users-st.n+1, users)
		case "dial":
			fmt.Fprintf(&b, "\n  start one more nc (%s)", st.who)
		case "send":
			fmt.Fprintf(&b, "\n  %s types %s", st.who, strconv.Quote(abbrev(st.texts[0])))
		case "expect":
			fmt.Fprintf(&b, "\n  %s sees %s", st.who, strconv.Quote(abbrev(st.texts[0])))
			if len(st.texts) > 1 {
				fmt.Fprintf(&b, " ... (%d lines)", len(st.texts))
			}
		case "close", "reset":
			fmt.Fprintf(&b, "\n  %s: Ctrl-C", st.who)
		case "shutdown":
			fmt.Fprintf(&b, "\n  %s: Ctrl-D (nc -N)", st.who)
		case "closed":
			fmt.Fprintf(&b, "\n  %s's nc ends", st.who)
		}
	}
	return b.String()
}
