# chatlab: `make help` lists what you can run.

GO      ?= go
BIN     := bin
HOST    ?= localhost
PORT    ?= 5015
# Extra flags for `make serve`, e.g. SERVER_FLAGS="-max-clients 200".
SERVER_FLAGS ?=
# What `make serve` adds for a class (handouts/protocol.md): a flooder is
# held to 10 lines a second, and nc/telnet users are spared escape
# sequences. CLASS_FLAGS= turns both off.
CLASS_FLAGS ?= -max-rate 10 -strip-controls

.DEFAULT_GOAL := help
.PHONY: help build serve serve-lab2 serve-epoll client serve-mine serve-mine-lab2 client-mine test lint clean grade grade-solutions grade-sanitized grade-many fixtures labs labs-check handout gradescope bench bench-smoke bench-wakeup bench-grader

# The C track's references are built with these (the sanitizers add theirs).
CC      ?= gcc
C_FLAGS ?= -O2 -Wall -Wextra -Werror

# Flags for the grader, e.g. GRADE_FLAGS="-v -run server/burst".
GRADE_FLAGS ?=
LAB ?= all
N ?= 20

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

# The track of make grade, grade-solutions, handout, gradescope...: go, or c
# with LANG=c on the command line. (LANG from the environment is the locale,
# C.UTF-8 or C: not a track.) The labs and tracks are grader/course's table.
TRACK := $(if $(filter command line,$(origin LANG)),$(LANG),go)

build: ## build the grader and every track's reference programs (bin/chat_client, bin/chat_client_c, ...: grade -list-labs) into bin/
	$(GO) build -o $(BIN)/grade ./grader/cmd/grade
	$(GO) build -o $(BIN)/chatbench ./grader/cmd/chatbench
	$(GO) build -o $(BIN)/chat_server_epoll ./solutions/epollserver
	CC="$(CC)" CFLAGS="$(C_FLAGS)" $(BIN)/grade -lang all -programs references -build solutions -build-only

serve: build ## run the reference server, lab 3's, for a class (port 5015, or PORT=...; Ctrl-C stops it)
	$(BIN)/chat_server_shm -port $(PORT) $(CLASS_FLAGS) $(SERVER_FLAGS)

serve-lab2: build ## run lab 2's reference server instead (fork and pipes, no shared memory)
	$(BIN)/chat_server -port $(PORT) $(CLASS_FLAGS) $(SERVER_FLAGS)

serve-epoll: build ## run the single-process epoll baseline instead (the lightest for a large class)
	$(BIN)/chat_server_epoll -port $(PORT) $(CLASS_FLAGS) $(SERVER_FLAGS)

client: build ## connect the reference client: make client HOST=... PORT=...
	$(BIN)/chat_client $(HOST) $(PORT)

# The programs built from labs/ (the skeletons here; a student's code in the
# kit), of the track LANG=... names.
serve-mine: ## run the lab 3 server built from labs/ (LANG=c: labs/c/serveur_shm.c)
	$(GO) build -o $(BIN)/grade ./grader/cmd/grade
	$(BIN)/grade -lang $(TRACK) -build labs -build-only -lab shm
	$(BIN)/lab_server_shm -port $(PORT)

serve-mine-lab2: ## run the lab 2 server built from labs/ (LANG=c: labs/c/serveur.c)
	$(GO) build -o $(BIN)/grade ./grader/cmd/grade
	$(BIN)/grade -lang $(TRACK) -build labs -build-only -lab server
	$(BIN)/lab_server -port $(PORT)

client-mine: ## run the client built from labs/ (LANG=c: labs/c/client.c)
	$(GO) build -o $(BIN)/grade ./grader/cmd/grade
	$(BIN)/grade -lang $(TRACK) -build labs -build-only -lab client
	$(BIN)/lab_client $(HOST) $(PORT)

grade: ## build your programs in labs/ and grade them: details of the lab in progress, then the next task (LANG=c for labs/c; LAB=client, server or shm for one lab; GRADE_FLAGS=-v for every test)
	$(GO) build -o $(BIN)/grade ./grader/cmd/grade
	$(BIN)/grade -lang $(TRACK) -build labs -labs labs -lab $(LAB) $(GRADE_FLAGS)

# The benchmark's matrix: numbers of clients, rounds (each figure is the
# median of them), and how long each mode sends per trial.
BENCH_N ?= 5,50,200,500
BENCH_RUNS ?= 3
BENCH_DURATION ?= 3s
# The designs measured: the Go servers with their C twins (the C track's
# references) beside them; the flood scenario needs make serve's flags
# (-max-rate, -strip-controls), which only the Go servers have.
DESIGNS = -server lab2=$(BIN)/chat_server -server lab2-c=$(BIN)/chat_server_c -server shm=$(BIN)/chat_server_shm -server shm-c=$(BIN)/chat_server_shm_c -server epoll=$(BIN)/chat_server_epoll
GO_DESIGNS = -server lab2=$(BIN)/chat_server -server shm=$(BIN)/chat_server_shm -server epoll=$(BIN)/chat_server_epoll

# The flood scenario: readers, one talker, one flooder (yes | nc).
FLOOD_READERS ?= 30
FLOOD_LIMITS = none;$(CLASS_FLAGS)

bench: build ## measure the server designs side by side (the Go servers, their C twins, the epoll baseline), and the flood scenario (Go servers); writes handouts/bench.md and handouts/figures/bench.svg
	$(BIN)/chatbench $(DESIGNS) -n $(BENCH_N) -runs $(BENCH_RUNS) -duration $(BENCH_DURATION) -rate 50 \
		-json $(BIN)/bench.json -csv $(BIN)/bench.csv -svg handouts/figures/bench.svg -doc handouts/bench.md -reproduce "make bench"
	$(BIN)/chatbench $(GO_DESIGNS) -flood $(FLOOD_READERS) -limits "$(FLOOD_LIMITS)" -runs $(BENCH_RUNS) -duration $(BENCH_DURATION) \
		-doc handouts/bench.md -reproduce "make bench"

bench-smoke: build fixtures ## a short chatbench run: no loss from any design, the loss of a server that drops is reported, a flooder among 30 readers kicks nobody (make serve's flags: nobody delayed over 1 s), and 200 saturating clients make no shm parent kill a live child
	$(BIN)/chatbench $(DESIGNS) -n 10 -runs 1 -duration 2s
	@out=$$($(BIN)/chatbench -server drop=$(BIN)/fixtures/c_server_DROP_BURST -n 10 -runs 1 -duration 2s -mode saturate 2>&1); \
	status=$$?; echo "$$out"; \
	if [ $$status -ne 1 ] || ! echo "$$out" | grep -q '^FAILED'; then \
		echo "bench-smoke: chatbench did not report the loss of c_server_DROP_BURST (exit $$status)"; exit 1; fi; \
	echo "bench-smoke: the dropping server's loss was reported"
	$(BIN)/chatbench -server serve=$(BIN)/chat_server_shm -server serve-lab2=$(BIN)/chat_server -server serve-epoll=$(BIN)/chat_server_epoll \
		-flood $(FLOOD_READERS) -limits "none;$(CLASS_FLAGS)" -runs 1 -duration 3s -fair 1s
	$(BIN)/chatbench -server shm=$(BIN)/chat_server_shm -server shm-c=$(BIN)/chat_server_shm_c -n 200 -runs 1 -duration 3s -mode saturate

bench-grader: ## how long grading takes, for the references and for programs far from right (3 rounds each)
	$(GO) test -run '^$$' -bench Grade -benchtime 1x -count 3 ./grader/suite

bench-wakeup: ## what waking an idle child costs: Go the old way (blocking system calls), Go the children's way (solutions/fdio), Go with the pipe itself in the runtime's poller, C; CPU and thread runs per wake-up, from /proc/PID/task/*/schedstat, every 15 ms then every 2 ms, medians of 3 interleaved rounds
	$(GO) build -o $(BIN)/wakecost ./solutions/wakecost
	gcc -O2 -Wall -o $(BIN)/wakecost_c solutions/wakecost/c/wakecost.c
	$(BIN)/wakecost -every 15ms -c $(BIN)/wakecost_c
	$(BIN)/wakecost -every 2ms -c $(BIN)/wakecost_c

DIST ?= dist
KIT := $(DIST)/kit/chatlab

# How much of the design the kit gives: guided (the design given; the
# student fills regions) or outline (the student writes the design too).
SCAFFOLD ?= guided

handout: labs-check ## build dist/chatlab-student.tar.gz: skeletons (SCAFFOLD=guided or outline; LANG=c for C's), grader, handouts, reference binaries; no solution source
	rm -rf $(DIST)/kit && mkdir -p $(KIT)/bin
	cp go.mod go.sum $(KIT)/
	cp grader/kit/Makefile grader/kit/README.md $(KIT)/
	echo "TRACK = $(TRACK)" > $(KIT)/track.mk
	tar -c --exclude='*_test.go' --exclude='grader/cmd/mklabs' --exclude='grader/kit' grader handouts | tar -x -C $(KIT)
	$(GO) run ./grader/cmd/mklabs -lang $(TRACK) -scaffold $(SCAFFOLD) -labs $(KIT)/labs -handouts $(KIT)/handouts
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags=-s -o $(KIT)/bin/chat_server ./solutions/server
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags=-s -o $(KIT)/bin/chat_server_shm ./solutions/shmserver
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags=-s -o $(KIT)/bin/chat_server_epoll ./solutions/epollserver
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags=-s -o $(KIT)/bin/chat_client ./solutions/client
	mkdir -p $(KIT)/.github/workflows
	$(GO) run ./grader/cmd/grade -classroom -lang $(TRACK) > $(KIT)/.github/workflows/classroom.yml
	tar -C $(DIST)/kit -czf $(DIST)/chatlab-student.tar.gz chatlab
	@echo "$(DIST)/chatlab-student.tar.gz ($(TRACK), $(SCAFFOLD) scaffolding): $$(du -h $(DIST)/chatlab-student.tar.gz | cut -f1)"

gradescope: handout ## build dist/gradescope.zip: setup.sh, run_autograder and the kit (LANG=c: the C kit), for a Gradescope programming assignment
	rm -rf $(DIST)/gradescope $(DIST)/gradescope.zip && mkdir -p $(DIST)/gradescope
	cp grader/kit/gradescope/setup.sh grader/kit/gradescope/run_autograder $(DIST)/gradescope/
	cp -r $(KIT) $(DIST)/gradescope/kit
	cd $(DIST)/gradescope && zip -qr $(abspath $(DIST))/gradescope.zip .
	@echo "$(DIST)/gradescope.zip: $$(du -h $(DIST)/gradescope.zip | cut -f1)"

labs: ## regenerate the skeletons in labs/ from solutions/ (instructors)
	$(GO) run ./grader/cmd/mklabs -solutions solutions -labs labs

labs-check: ## fail if labs/ is not what make labs would write
	$(GO) run ./grader/cmd/mklabs -solutions solutions -labs labs -check

grade-solutions: build ## grade the reference programs (must be full marks; LANG=c: the C track's)
	$(BIN)/grade -lang $(TRACK) -programs references -lab all $(GRADE_FLAGS)

# The C references built with AddressSanitizer and UBSan: any error they
# find aborts the program, and the test that met it fails.
SAN_FLAGS = -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_ENV = ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

grade-sanitized: build ## grade the C references built with AddressSanitizer and UBSan (must be full marks)
	CC="$(CC)" CFLAGS="$(SAN_FLAGS)" $(BIN)/grade -lang c -programs references -build solutions -bin $(BIN)/san -build-only
	$(SAN_ENV) $(BIN)/grade -lang c -programs references -bin $(BIN)/san -lab all $(GRADE_FLAGS)

grade-many: build ## grade the reference programs N times (N=20; LANG=c: the C track's): every run must pass
	$(BIN)/grade -lang $(TRACK) -programs references -lab all -repeat $(N) $(GRADE_FLAGS)

# defects lists the DEFECT_* macros a C source's header comment describes
# (" *   DEFECT_NAME  what it breaks"): the fixtures are built from that list,
# as grader/suite's tests read it.
defects = $(shell sed -n 's/^ \*   DEFECT_\([A-Z0-9_]*\).*/\1/p' $(1))

fixtures: ## build the broken programs that prove the grader into bin/fixtures/
	@mkdir -p $(BIN)/fixtures
	for d in OK $(call defects,solutions/c/serveur.c); do \
		gcc -O2 -Wall -DDEFECT_$$d -o $(BIN)/fixtures/c_server_$$d solutions/c/serveur.c || exit 1; done
	for d in OK $(call defects,solutions/c/client.c); do \
		gcc -O2 -Wall -DDEFECT_$$d -o $(BIN)/fixtures/c_client_$$d solutions/c/client.c || exit 1; done
	for d in OK $(call defects,solutions/c/serveur_shm.c); do \
		gcc -O2 -Wall -DDEFECT_$$d -o $(BIN)/fixtures/c_shmserver_$$d solutions/c/serveur_shm.c || exit 1; done
	gcc -O2 -Wall -DVARIANT_OTHER_NAME -o $(BIN)/fixtures/c_shmserver_OTHER_NAME solutions/c/serveur_shm.c
	$(GO) build -o $(BIN)/fixtures/threads ./fixtures/broken/threads
	$(GO) build -o $(BIN)/fixtures/panics ./fixtures/broken/panics

test: lint ## run every test, with the race detector
	$(GO) test -race -count=1 -timeout 25m ./...

lint: ## gofmt and go vet
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

clean: ## remove what the build made
	rm -rf $(BIN) dist
