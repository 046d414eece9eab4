# gasket: the one build system.
#
#   make          install missing Debian packages, build everything into build/
#   make run      ... and start gasketd on the embedded defaults
#   make test     build, then unit, integration, dashboard (e2e) and fuzz-corpus
#                 tests, then the unit and integration tests again under ASan + UBSan
#   make cross ARCH=arm64|armhf
#                 the programs and unit tests for a Raspberry Pi, into
#                 build/cross/ARCH/ (scripts/cross-check.sh runs them under qemu)
#
# BUILD selects the output folder; SAN=1 builds with the sanitizers; CC and
# PKG_CONFIG choose the compiler and the pkg-config (cross uses both).

BUILD   ?= build
SAN     ?=
CC      ?= gcc
PKG_CONFIG ?= pkg-config
PYTHON  ?= /usr/bin/python3

PKGS    := libuv openssl jansson sqlite3 inih lua5.4 zlib libzstd
CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Isrc \
           $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lhttp_parser -lwslay -lpthread -lm
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -O2
endif

LIB_SRC  := $(wildcard src/core/*.c src/net/*.c src/http/*.c src/mqtt/*.c src/store/*.c \
                       src/rules/*.c src/gateway/*.c src/daemon/*.c src/admin/*.c src/device/*.c)
# The dashboard's files (web/src/), embedded by a generated C file (web.h);
# the folders are prerequisites too, so a removed file regenerates it.
# web/src/vendor/ (not committed) holds the npm libraries' built files,
# copied from web/node_modules (npm ci of web/package-lock.json).
WEB_VENDOR := web/src/vendor/uPlot.iife.min.js web/src/vendor/uPlot.min.css \
              web/src/vendor/mqtt.min.js
WEB_SRC  := $(sort $(shell find web/src ! -name '.*' 2>/dev/null) $(WEB_VENDOR))
WEB_GEN  := scripts/gen-web-assets.py
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/web_assets.o
PROGRAMS := $(patsubst src/cmd/%.c,$(BUILD)/%,$(wildcard src/cmd/*.c))
CMD_OBJ  := $(patsubst src/cmd/%.c,$(BUILD)/obj/src/cmd/%.o,$(wildcard src/cmd/*.c))
UNIT_SRC := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
# The library is compiled once for every fuzz target (coverage without
# libFuzzer's main); each target links it with -fsanitize=fuzzer.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer-no-link,address,undefined \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o) build/fuzz/obj/gen/web_assets.o
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps run test check unit integration e2e fuzz fuzz-replay cross clean format

all: deps
	@$(MAKE) --no-print-directory -j$(JOBS) programs

deps:
	@scripts/install-deps.sh

programs: $(PROGRAMS) $(UNIT_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

%/gen/web_assets.c: $(WEB_GEN) $(WEB_SRC)
	@mkdir -p $(dir $@)
	$(PYTHON) $(WEB_GEN) web/src $@

# npm writes node_modules/.package-lock.json last: a missing or older one
# means web/package-lock.json changed or the install is not done.
web/node_modules/.package-lock.json: web/package-lock.json
	@scripts/install-deps.sh --web

# One rule for the folder, emptied first, so nothing stale is embedded.
$(WEB_VENDOR) &: web/node_modules/.package-lock.json
	rm -rf web/src/vendor && mkdir -p web/src/vendor
	cp web/node_modules/uplot/dist/uPlot.iife.min.js web/node_modules/uplot/dist/uPlot.min.css \
	    web/node_modules/mqtt/dist/mqtt.min.js web/src/vendor/

$(BUILD)/obj/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libgasket.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%: $(BUILD)/obj/src/cmd/%.o $(BUILD)/libgasket.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The device programs' clients, linked into them alone: gasket-sub's MQTT
# (libmosquitto), gasket-pub's HTTP (libcurl) and MQTT.
$(BUILD)/gasket-sub: LDLIBS += $(shell $(PKG_CONFIG) --libs libmosquitto 2>/dev/null)
$(BUILD)/gasket-pub: LDLIBS += $(shell $(PKG_CONFIG) --libs libcurl libmosquitto 2>/dev/null)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libgasket.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -MMD -MP $< $(BUILD)/libgasket.a $(LDFLAGS) $(LDLIBS) -o $@

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

build/fuzz/obj/gen/web_assets.o: build/fuzz/gen/web_assets.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

build/fuzz/libgasket.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/%: tests/fuzz/%.c build/fuzz/libgasket.a
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $< build/fuzz/libgasket.a \
	    $(shell pkg-config --libs $(PKGS)) -lhttp_parser -lwslay -lpthread -lm -o $@

run: all
	$(BUILD)/gasketd

unit: programs
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

integration: programs
	GASKETD=$(abspath $(BUILD)/gasketd) $(PYTHON) -m pytest -q tests/integration

# The dashboard in headless Chromium (Debian's, driven by playwright-core from
# tests/e2e/package-lock.json), against build/gasketd; screenshots of every
# view go to build/e2e/. One test file at a time, each test 60 s at most.
E2E      := tests/e2e/dashboard.test.mjs tests/e2e/login.test.mjs
e2e: deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(BUILD)/gasketd $(BUILD)/gasket
	GASKETD=$(abspath $(BUILD)/gasketd) GASKET=$(abspath $(BUILD)/gasket) \
	    timeout 300 node --test --test-concurrency=1 --test-timeout=60000 $(E2E)

fuzz: $(FUZZ_BIN)

# Replays every committed corpus once through its fuzz target.
fuzz-replay: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do n=$${f##*/fuzz_}; \
	    echo "== $$f (corpus tests/fuzz/corpus/$$n)"; \
	    $$f -runs=0 tests/fuzz/corpus/$$n > $$f.log 2>&1 || { cat $$f.log; exit 1; }; \
	    tail -n 2 $$f.log; done

check: unit integration

test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) programs
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory -j$(JOBS) $(FUZZ_BIN)
	@$(MAKE) --no-print-directory fuzz-replay
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build/asan SAN=1 programs
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(MAKE) --no-print-directory BUILD=build/asan SAN=1 check

# Cross-building for Raspberry Pis with Debian's cross toolchains: the same
# rules, run again with BUILD, CC and PKG_CONFIG for ARCH (the embedded web
# assets are generated as for a native build). scripts/cross-deps.sh installs
# the toolchain and the :ARCH libraries (it does nothing when all is there).
# libhttp-parser-dev and libwslay-dev cannot be installed for a second
# architecture (not Multi-Arch: same), so the native headers serve and the
# :ARCH runtime libraries are linked through symlinks in build/cross/ARCH/lib.
CROSS_TRIPLET_arm64 := aarch64-linux-gnu
CROSS_TRIPLET_armhf := arm-linux-gnueabihf
# armhf: a 64-bit time_t and off_t (glibc's _TIME_BITS=64), so that dates past
# 2038 and directory offsets fit. gasket's own code only: no time_t, off_t or
# struct stat crosses into a library's interface (the libraries keep theirs).
CROSS_CFLAGS_armhf  := -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64
CROSS_T   = $(CROSS_TRIPLET_$(ARCH))
CROSS_DIR = build/cross/$(ARCH)

cross:
	@[ -n "$(CROSS_T)" ] || { echo "usage: make cross ARCH=arm64|armhf" >&2; exit 2; }
	@scripts/cross-deps.sh $(ARCH)
	@mkdir -p $(CROSS_DIR)/lib
	@for l in http_parser wslay; do set -- /usr/lib/$(CROSS_T)/lib$$l.so.*; \
	    [ -e "$$1" ] || { echo "cross: no $$1 (scripts/cross-deps.sh $(ARCH))" >&2; exit 1; }; \
	    ln -sf "$$1" $(CROSS_DIR)/lib/lib$$l.so; done
	@$(MAKE) --no-print-directory -j$(JOBS) programs BUILD=$(CROSS_DIR) \
	    CC="$(CROSS_T)-gcc $(CROSS_CFLAGS_$(ARCH))" PKG_CONFIG=$(CROSS_T)-pkg-config LDFLAGS=-L$(CROSS_DIR)/lib

format:
	clang-format -i $(wildcard src/*/*.c src/*/*.h tests/unit/*/*.c tests/fuzz/*.c)

clean:
	rm -rf build web/src/vendor

-include $(LIB_OBJ:.o=.d) $(UNIT_BIN:=.d) $(FUZZ_OBJ:.o=.d) $(CMD_OBJ:.o=.d)
# The mains' objects are kept (not intermediate), so their .d files count.
.SECONDARY: $(CMD_OBJ)
