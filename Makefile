# Multi-tenant LLM serving stack. `make run` and `make test` are all a fresh
# Debian 12 machine needs; both install missing apt packages first.

BUILD    ?= build
SAN      ?=
CC       ?= cc
PKGS     := libczmq libzmq libprotobuf-c libmicrohttpd libpq jansson libcurl openssl uuid
CFLAGS   ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -pthread \
            -I$(BUILD)/gen -Icommon $(SAN) \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
override LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
override LDFLAGS += $(SAN) -pthread

SERVICES := auth-gateway scheduler worker-adapter metering quota-enforcer
GEN      := $(BUILD)/gen/mt.pb-c.c $(BUILD)/gen/mt.pb-c.h
COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(COMMON_SRC)) $(BUILD)/obj/gen/mt.pb-c.o
BINS     := $(patsubst %,$(BUILD)/bin/mt-%,$(SERVICES)) $(BUILD)/bin/mt-migrate $(BUILD)/bin/mt-keygen
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

# Objects of a service except main.c: linked into its binary and unit tests.
# The gateway also links its console's files, generated into C at build time.
svc_src  = $(filter-out services/$(1)/main.c,$(wildcard services/$(1)/*.c))
svc_obj  = $(patsubst %.c,$(BUILD)/obj/%.o,$(call svc_src,$(1))) \
           $(if $(filter auth-gateway,$(1)),$(BUILD)/obj/gen/gw_console_assets.o)
CONSOLE_FILES := $(sort $(wildcard services/auth-gateway/console/*))
SVC_INC  := $(patsubst %,-Iservices/%,$(SERVICES))
SVC_LIBS := $(patsubst %,$(BUILD)/lib/libmt-%.a,$(SERVICES))

.PHONY: all deps run test test-asan unit bench bench-engine bench-worker bench-abuse bench-chaos bench-fairness fuzz compose-test clean
.DEFAULT_GOAL := all
.SECONDARY:                      # keep objects make sees as intermediate

all: $(BINS) $(UNIT_BIN) $(BUILD)/tests/mt-intruder $(BUILD)/tests/mt-qe-load $(BUILD)/tests/mt-sched-load $(BUILD)/tests/mt-wa-load

deps:
	@bash deploy/dev/install-deps.sh

$(BUILD)/gen/mt.pb-c.c $(BUILD)/gen/mt.pb-c.h: proto/mt.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -Iproto proto/mt.proto

$(BUILD)/obj/gen/mt.pb-c.o: $(BUILD)/gen/mt.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-error -c $< -o $@

$(BUILD)/gen/gw_console_assets.c: $(CONSOLE_FILES) services/auth-gateway/embed-console.sh
	@mkdir -p $(BUILD)/gen
	@bash services/auth-gateway/embed-console.sh $(CONSOLE_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/gw_console_assets.o: $(BUILD)/gen/gw_console_assets.c services/auth-gateway/gw_console.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iservices/auth-gateway -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN) $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) -MMD -MP $(if $(filter services/%,$<),-I$(dir $<),$(if $(filter tests/%,$<),$(SVC_INC))) -c $< -o $@

$(BUILD)/lib/libmtcommon.a: $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

define SVC_RULES
$(BUILD)/lib/libmt-$(1).a: $(call svc_obj,$(1)) $(BUILD)/obj/common/mt_log.o
	@mkdir -p $$(dir $$@)
	$(AR) rcs $$@ $(call svc_obj,$(1))
$(BUILD)/bin/mt-$(1): $(BUILD)/obj/services/$(1)/main.o $(BUILD)/lib/libmt-$(1).a $(BUILD)/lib/libmtcommon.a
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) -o $$@ $$^ $(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call SVC_RULES,$(s))))

$(BUILD)/bin/mt-migrate: $(BUILD)/obj/sql/mt_migrate.o $(BUILD)/lib/libmtcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A stray process on the service bus, for the integration suite's security tests.
$(BUILD)/tests/mt-intruder: $(BUILD)/obj/tests/integration/mt_intruder.o $(BUILD)/lib/libmtcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The quota-enforcer's and the scheduler's own load generators, for `make bench`, and the
# worker-adapter's (tests/bench/worker.sh).
$(BUILD)/tests/mt-%-load: $(BUILD)/obj/tests/bench/mt_%_load.o $(BUILD)/lib/libmtcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/mt-keygen: $(BUILD)/obj/deploy/keygen/mt_keygen.o $(BUILD)/lib/libmtcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(SVC_LIBS) $(BUILD)/lib/libmtcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

run: deps all
	@bash deploy/dev/run.sh

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash tests/run.sh

# The same suite with AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan: deps
	@$(MAKE) --no-print-directory all BUILD=build/asan CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
	@BUILD=build/asan MT_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 bash tests/run.sh

unit: all
	@BUILD=$(BUILD) MT_ONLY_UNIT=1 bash tests/run.sh

bench: deps all
	@BUILD=$(BUILD) bash tests/bench/run.sh

# In front of an OpenAI-compatible engine that answers at once: the engine
# direct, behind nginx and behind the stack, interleaved (tests/bench/engine.sh).
bench-engine: deps all
	@bash deploy/dev/install-deps.sh --bench
	@BUILD=$(BUILD) MT_BENCH_ENGINE=1 bash tests/bench/run.sh

# One worker alone in front of the stand-in engine, its own load generator as its
# scheduler and gateway (tests/bench/worker.sh; MT_BENCH_WA_BUILDS compares builds).
bench-worker: deps all
	@BUILD=$(BUILD) bash tests/bench/worker.sh

# The gateway under N silent + N slowloris connections: a normal client's
# p50/p99, /healthz on fresh connections, RSS (tests/bench/abuse.mjs).
bench-abuse: deps all
	@BUILD=$(BUILD) node tests/bench/abuse.mjs

# kill -9 each service once under load: failed requests, stalls, recovery,
# ledger vs client-seen tokens (tests/bench/chaos.mjs). Reports, never fails.
bench-chaos: deps all
	@BUILD=$(BUILD) node tests/bench/chaos.mjs

# Fairness of the scheduler's policies on a live stack (fifo and vtc), and the
# dispatch cost with 10,000 tenants queued. Reports; never fails on a number.
bench-fairness: deps all $(BUILD)/bench/sch_dispatch $(BUILD)/bench/sch_policies
	@BUILD=$(BUILD) bash tests/bench/fairness.sh

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(BUILD)/lib/libmt-scheduler.a $(BUILD)/lib/libmtcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/tests/bench/%.o: tests/bench/%.c $(GEN) $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -Iservices/scheduler -Itests/unit -c $< -o $@

# Coverage-guided fuzzing (libFuzzer) of every parser of outside bytes;
# MT_FUZZ_SECONDS per target (default 30). Not part of `make test`.
fuzz:
	@BUILD=build/fuzz bash tests/fuzz/run.sh

# docker-compose.yml for real with podman: images from base images made here,
# the stack up, requests, the ledger, everything torn down (root; see README.md).
compose-test:
	@bash deploy/compose/test.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
