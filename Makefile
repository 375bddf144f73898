# vmswitch - plain GNU make. `make` builds build/vmswitch; `make check` runs every test.
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror=implicit \
           -D_GNU_SOURCE -fno-strict-aliasing -MMD -MP -Isrc
LDFLAGS ?=
LDLIBS  ?=
# The config file is parsed with libconfig, filters compiled and captures
# written with libpcap (Debian: libconfig-dev, libpcap-dev).
LDLIBS  += -lconfig -lpcap
# The control socket writes and `ctl top` reads JSON with json-c (libjson-c-dev).
CFLAGS  += $(shell pkg-config --cflags json-c 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c)
# `vmswitch exporter` serves Prometheus over HTTP with libmicrohttpd
# (libmicrohttpd-dev).
CFLAGS  += $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
# Readiness and reload state for systemd's Type=notify (libsystemd-dev).
LDLIBS  += -lsystemd
# EVPN's rtnetlink (shadow devices, FDB entries, neighbour events) goes
# through libmnl (libmnl-dev).
CFLAGS  += $(shell pkg-config --cflags libmnl 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs libmnl 2>/dev/null || echo -lmnl)
# Datapath threads (run --cpus).
CFLAGS  += -pthread
LDLIBS  += -pthread
B       := build

# AF_XDP ports need libxdp and libbpf (Debian: libxdp-dev libbpf-dev). Without
# them vmswitch builds anyway and refuses afxdp ports with a message saying so.
HAVE_AFXDP := $(shell pkg-config --exists libxdp libbpf 2>/dev/null && echo yes)
ifeq ($(HAVE_AFXDP),yes)
CFLAGS  += -DHAVE_AFXDP $(shell pkg-config --cflags libxdp libbpf)
LDLIBS  += $(shell pkg-config --libs libxdp libbpf)
else
HAVE_AFXDP := no
endif

ifeq ($(TSAN),1)
# ThreadSanitizer, with clang: state the threads share. Its `make check`
# runs only the tests marked vmsw-tsan (tests/run.py); a report fails the
# test that made it.
CC      := clang
CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer -O1
LDFLAGS += -fsanitize=thread
B       := build/tsan
export TSAN_OPTIONS := halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp
else ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -O1
LDFLAGS += -fsanitize=address,undefined
B       := build/sanitize
# Any UBSan finding fails the test that triggered it.
export UBSAN_OPTIONS := halt_on_error=1:print_stacktrace=1
else
# Link-time optimisation inlines the per-packet calls between files (rings,
# virtio-net, MAC table): about 10% fewer instructions per packet.
CFLAGS  += -flto=auto
LDFLAGS += -flto=auto
endif

# Sources sit in one folder per layer (doc/design.md): core, pkt, vhost,
# policy, ports, switch, ctl, then main.c. Includes name the folder.
LAYERS := core pkt vhost policy ports switch evpn ctl
ALL_SRCS := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c)) src/main.c
# Linked in the order of the file names, not of the folders: link-time
# optimisation partitions by that order, and this one measured 4 instructions
# per 64-byte packet fewer (callgrind: 371 against 375).
SRCS := $(foreach f,$(sort $(notdir $(ALL_SRCS))),$(filter %/$(f),$(ALL_SRCS)))
HDRS := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.h))
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS := $(SRCS:src/%.c=$(B)/obj/%.o)
LIB_OBJS := $(LIB_SRCS:src/%.c=$(B)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

all: $(B)/vmswitch man

# The version: the VERSION file, and the git revision of a build from a git
# tree (a Debian package build outside git has none). Only ctl/usage.o
# (`vmswitch --version`) sees them, and is rebuilt when either changes.
VERSION  := $(shell cat VERSION)
GIT_REV  := $(shell [ -e .git ] && GIT_OPTIONAL_LOCKS=0 git describe --always --dirty 2>/dev/null)
VERSION_DEFS := -DVMSWITCH_VERSION='"$(VERSION)"' -DVMSWITCH_GIT='"$(GIT_REV)"'
$(B)/obj/ctl/usage.o: CFLAGS += $(VERSION_DEFS)
$(B)/obj/ctl/usage.o: $(B)/version.stamp
$(B)/version.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION_DEFS)' | cmp -s - $@ || echo '$(VERSION_DEFS)' > $@

# Manual pages vmswitch(8) and vmswitch.conf(5): scdoc sources in doc/man/,
# built into $(B)/man/ (`make install` takes them from there).
MAN_PAGES := $(B)/man/vmswitch.8 $(B)/man/vmswitch.conf.5

man: $(MAN_PAGES)

$(B)/man/%: doc/man/%.scd doc/man/tidy.awk VERSION
	@mkdir -p $(dir $@)
	@command -v scdoc >/dev/null || \
		{ echo "scdoc not found: make deps (or apt-get install -y scdoc)"; exit 1; }
	sed 's/@VERSION@/$(VERSION)/g' $< | scdoc | awk -f doc/man/tidy.awk > $@.tmp
	mv $@.tmp $@

$(B)/vmswitch: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/obj/%.o: src/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Installing or removing libxdp-dev rebuilds the AF_XDP port and relinks.
$(B)/obj/ports/port_afxdp.o: $(B)/obj/afxdp-$(HAVE_AFXDP).stamp
$(B)/obj/afxdp-$(HAVE_AFXDP).stamp:
	@mkdir -p $(dir $@)
	rm -f $(B)/obj/afxdp-*.stamp
	touch $@

$(B)/tests/%: tests/unit/%.c $(LIB_OBJS) tests/unit/unit.h tests/unit/testaddr.h | $(B)/tests
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS)

$(B)/tests:
	mkdir -p $@

unit: $(UNIT_BINS)

# Libraries the build needs; `make demo` and `make check` install them.
BUILD_DEPS := gcc make pkg-config libconfig-dev libpcap-dev libjson-c-dev libmicrohttpd-dev python3 libxdp-dev libbpf-dev libsystemd-dev libmnl-dev scdoc

deps:
	@scripts/install-deps.sh $(BUILD_DEPS)

# Every test: unit tests, then integration tests against QEMU and DPDK.
# TSAN=1 builds with ThreadSanitizer into build/tsan and runs the tests
# whose source says vmsw-tsan: the ones with threads sharing state.
# The sanitizer pass leaves out the QEMU guest tests that take longest (the
# plain pass runs them), so that .ci/run stays within its time, and the
# tests that run no part of the sanitized build: the package test (its
# package is an ordinary build), the fuzz smoke test (the fuzzers are always
# built with ASan and UBSan) and the harness self-tests (testpmd, no vmswitch).
SLOW_GUEST_TESTS := test_qemu.py,test_offload_qemu.py,test_migration.py
NOT_SANITIZED := test_package.py:builds and installs its own package (an ordinary build) - run by the plain make check,test_fuzz_smoke.py:the fuzz targets are built with ASan and UBSan in every pass - run by the plain make check,test_harness_testpmd.py:runs testpmd and no vmswitch - run by the plain make check,test_vhostfront_testpmd.py:runs testpmd and no vmswitch - run by the plain make check
ifeq ($(TSAN),1)
BUILD_DEPS += clang
CHECK_ENV := VMSW_TSAN=1
endif
# The sanitizer pass runs every switch with two datapath threads
# (VMSW_RUN_ARGS, tests/lib/switch.py) where there are two CPUs, so that the
# suite runs both with one thread (the plain pass) and with --cpus.
comma := ,
SANITIZE_RUN_ARGS := $(if $(filter-out 0 1,$(shell nproc)),--cpus 0$(comma)1)
ifeq ($(SANITIZE),1)
CHECK_ENV := VMSW_SKIP="$(SLOW_GUEST_TESTS),$(NOT_SANITIZED)" VMSW_SKIP_WHY="slow QEMU guest test, run by the plain make check, left out of the sanitizer pass" VMSW_RUN_ARGS="$(SANITIZE_RUN_ARGS)"
endif

check: deps
	$(MAKE) all unit
	B=$(B) $(CHECK_ENV) python3 tests/run.py

demo: deps
	$(MAKE) all
	python3 scripts/demo.py

# Static checks: include layering, cppcheck, clang-tidy (scripts/lint.sh).
LINT_DEPS := cppcheck clang-tidy

lint:
	@scripts/install-deps.sh $(LINT_DEPS)
	@mkdir -p build
	scripts/lint.sh

clean:
	rm -rf build

.PHONY: all unit check demo clean deps lint man FORCE
-include $(OBJS:.o=.d) $(UNIT_BINS:=.d)

# ---- fuzzing (libFuzzer) -----------------------------------------------------
# `make fuzz` builds the targets in tests/fuzz with clang and runs each for
# FUZZ_SECONDS, starting from the seed corpus in tests/fuzz/corpus/<target>/
# and with tests/fuzz/<target>.dict if there is one (new inputs go to
# build/fuzz/corpus/<target>/, the seeds are never written). A crash, leak,
# sanitizer report or timeout fails the target; the input is saved as
# build/fuzz/<target>-crash-*. `make fuzz-build` only builds. `make check`
# runs each target for a bounded time (tests/integ/test_fuzz_smoke.py).
#   fuzz_vu_msg     vhost-user messages into a vu_dev
#   fuzz_vring      split rings and virtio-net frames over guest memory
#   fuzz_vring_packed  packed rings over guest memory, the ring's
#                   bookkeeping checked after every operation
#   fuzz_ctl        control requests (ctl_execute) against a live switch
#   fuzz_port_spec  port specs of every type (port_create) and the options
#                   every port shares
#   fuzz_config     the config file checker (config_load)
#   fuzz_ctl_reply  the client reading a reply (ctl top's top_parse)
#   fuzz_offload    a guest's vnet header and frame: offload checks, GSO, csums
#   fuzz_exporter   the exporter's --listen ADDR:PORT and its reading of replies
#   fuzz_evpn_neigh rtnetlink neighbour messages into an EVPN VNI's tables
# The sources are compiled once into build/fuzz/obj/ and linked into each.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_ARGS    ?=
FUZZ_TARGETS := fuzz_vu_msg fuzz_vring fuzz_vring_packed fuzz_ctl fuzz_port_spec fuzz_config fuzz_ctl_reply fuzz_offload fuzz_exporter fuzz_evpn_neigh
FUZZ_BINS    := $(FUZZ_TARGETS:%=build/fuzz/%)
FUZZ_OBJS    := $(LIB_SRCS:src/%.c=build/fuzz/obj/%.o)
FUZZ_SAN     := -fsanitize=address,undefined
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE \
                -fno-strict-aliasing -Wall -Wextra -Wno-unused-parameter \
                -MMD -MP -Isrc $(shell pkg-config --cflags json-c 2>/dev/null)
FUZZ_LIBS    := $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c)
ifeq ($(HAVE_AFXDP),yes)
FUZZ_CFLAGS  += -DHAVE_AFXDP $(shell pkg-config --cflags libxdp libbpf)
endif
FUZZ_ENV     := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp \
                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$(CURDIR)/tests/fuzz/ubsan.supp

build/fuzz/obj/%.o: src/%.c Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BINS): build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS) Makefile
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) \
		$(LDLIBS) $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus/$$t; \
		dict=; [ ! -f tests/fuzz/$$t.dict ] || dict=-dict=tests/fuzz/$$t.dict; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(FUZZ_ENV) build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 $$dict \
			-artifact_prefix=$(CURDIR)/build/fuzz/$$t- $(FUZZ_ARGS) \
			build/fuzz/corpus/$$t tests/fuzz/corpus/$$t \
			> build/fuzz/$$t.log 2>&1 \
		|| { tail -n 60 build/fuzz/$$t.log; echo "fuzz: $$t FAILED (log: build/fuzz/$$t.log)"; exit 1; }; \
		grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' build/fuzz/$$t.log | tr '\n' ' '; echo; \
		echo "fuzz: $$t ok"; \
	done

.PHONY: fuzz fuzz-build
-include $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)

# ---- benchmark (not part of `make check`) ------------------------------------
# `make bench` runs bench/bench.py as root: vmswitch beside testpmd's vhost
# io-fwd and OVS-DPDK (throughput, busy cycles, scale, latency, callgrind,
# packed rings beside split ones, thread scaling: N datapath threads beside
# N OVS PMD threads for every N the CPUs allow, ...).
# It installs dpdk, openvswitch-switch-dpdk and valgrind, reserves hugepages,
# and tears everything down again. BENCH_ARGS=--quick for a short run;
# `python3 bench/bench.py --help` lists the options.
BENCH_ARGS ?=
bench: all
	python3 bench/bench.py $(BENCH_ARGS)

.PHONY: bench

# ---- installation and the Debian package -------------------------------------
# `make install [PREFIX=/usr/local] [DESTDIR=]` puts the binary, the manual
# pages, the systemd units (vmswitch.service, the template vmswitch@.service
# and vmswitch-exporter.service, made from dist/systemd/*.in with these
# paths), bash completion and, unless one is there already, the default
# config @SYSCONFDIR@/vmswitch/vmswitch.conf. `make uninstall` removes them
# but the config. `make deb` builds the Debian package from debian/ in a copy
# of the tree under build/deb/ (installing its build dependencies first).
PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR     ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
UNIT_PATHS  := -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
# The one unit source, as the main unit and as the per-NAME template.
UNIT_MAIN   := -e 's|@UNIT@|vmswitch.service|g' -e 's|@INSTANCE@||g' \
               -e 's|@CONF@|$(SYSCONFDIR)/vmswitch/vmswitch.conf|g' \
               -e 's|@RUNDIR_NAME@|vmswitch|g' -e 's|@RUNDIR@|/run/vmswitch|g'
UNIT_TMPL   := -e 's|@UNIT@|vmswitch@.service|g' -e 's|@INSTANCE@|, instance %i|g' \
               -e 's|@CONF@|$(SYSCONFDIR)/vmswitch/%i.conf|g' \
               -e 's|@RUNDIR_NAME@|vmswitch-%i|g' -e 's|@RUNDIR@|/run/vmswitch-%i|g'
INSTALLED   := $(SBINDIR)/vmswitch $(MANDIR)/man8/vmswitch.8 $(MANDIR)/man5/vmswitch.conf.5 \
               $(UNITDIR)/vmswitch.service $(UNITDIR)/vmswitch@.service \
               $(UNITDIR)/vmswitch-exporter.service $(BASHCOMPDIR)/vmswitch

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSCONFDIR)/vmswitch
	install -m 0755 $(B)/vmswitch $(DESTDIR)$(SBINDIR)/vmswitch
	install -m 0644 $(B)/man/vmswitch.8 $(DESTDIR)$(MANDIR)/man8/vmswitch.8
	install -m 0644 $(B)/man/vmswitch.conf.5 $(DESTDIR)$(MANDIR)/man5/vmswitch.conf.5
	sed $(UNIT_PATHS) $(UNIT_MAIN) dist/systemd/vmswitch.service.in \
		> $(DESTDIR)$(UNITDIR)/vmswitch.service
	sed $(UNIT_PATHS) $(UNIT_TMPL) dist/systemd/vmswitch.service.in \
		> $(DESTDIR)$(UNITDIR)/vmswitch@.service
	sed $(UNIT_PATHS) dist/systemd/vmswitch-exporter.service.in \
		> $(DESTDIR)$(UNITDIR)/vmswitch-exporter.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/vmswitch*.service
	install -m 0644 dist/bash-completion/vmswitch $(DESTDIR)$(BASHCOMPDIR)/vmswitch
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/vmswitch/vmswitch.conf ]; then \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/vmswitch/vmswitch.conf"; \
	else \
		install -m 0644 dist/vmswitch.conf $(DESTDIR)$(SYSCONFDIR)/vmswitch/vmswitch.conf; \
	fi

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

deb:
	scripts/build-deb.sh build/deb

.PHONY: install uninstall deb
