# vmswitch - plain GNU make. `make` builds build/vmswitch; `make check` runs every test.
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror=implicit \
           -D_GNU_SOURCE -fno-strict-aliasing -MMD -MP
LDFLAGS ?=
B       := build

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -O1
LDFLAGS += -fsanitize=address,undefined
B       := build/sanitize
endif

SRCS := $(wildcard src/*.c)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS := $(SRCS:src/%.c=$(B)/obj/%.o)
LIB_OBJS := $(LIB_SRCS:src/%.c=$(B)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

all: $(B)/vmswitch

$(B)/vmswitch: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^

$(B)/obj/%.o: src/%.c | $(B)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(LIB_OBJS) tests/unit/unit.h | $(B)/tests
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(LIB_OBJS) $(LDFLAGS)

$(B)/obj $(B)/tests:
	mkdir -p $@

unit: $(UNIT_BINS)

# Every test: unit tests, then integration tests against QEMU and DPDK.
check: all unit
	B=$(B) python3 tests/run.py

demo: all
	python3 scripts/demo.py

clean:
	rm -rf build

.PHONY: all unit check demo clean
-include $(OBJS:.o=.d) $(UNIT_BINS:=.d)
