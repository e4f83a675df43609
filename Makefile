# lsmvtab — build, test, sanitizers, benchmarks, demo.
#
#   make            build/lsmvtab.so (the SQLite extension) and build/libengine.a (engine alone)
#   make test       every C test and SQL test; ends with "N passed, N failed"
#   make asan       the same under AddressSanitizer + UBSan, into build-asan/
#   make demo       the main job: a demo in the sqlite3 shell
#   make bench      benchmarks (results go to docs/BENCHMARKS.md by hand, with the command)
#   make deps       install missing Debian packages (root) or print the apt-get line
#
# Sources are found by wildcard: engine/*.c -> libengine.a; ext/*.c + vfs/*.c + engine -> .so;
# c-tests/test_*.c -> one test binary each (c-tests/util_*.c linked into every test);
# bench/bench_*.c -> one benchmark binary each; fuzz/fuzz_*.c -> libFuzzer targets (clang).

BUILD   ?= build
CC      ?= cc
SAN     ?=
OPT     ?= -O2
# Link-time optimisation of the extension and the benchmarks (SQLite ships as one translation
# unit for the same reason: the per-row path crosses vtab -> db -> dbiter -> merge -> version ->
# sst -> block, and only LTO inlines across them). Objects are fat (LTO bytecode + regular code):
# the tests link the regular code without LTO, so fault-injection links (--wrap) work as before
# and a test build stays quick. LTO= turns it off (make asan and make tsan do).
LTO     ?= -flto=auto -ffat-lto-objects
CFLAGS  ?=
CFLAGS  += -std=c11 $(OPT) $(LTO) -g -Wall -Wextra -Werror -fPIC -fvisibility=hidden -D_GNU_SOURCE -MMD -MP $(SAN)
LDFLAGS += $(SAN)
# At an LTO link gcc inlines across files and then warns maybe-uninitialized about values the
# callee always sets on the path taken (false positives; each file is checked when compiled).
LTO_LINK = $(if $(LTO),$(OPT) $(LTO) -Wno-maybe-uninitialized)
LIBS     = -luring -lzstd -llz4 -lxxhash -lpthread -lm
TESTLIBS = -lsqlite3 -lcmocka

ENGINE_SRC := $(wildcard engine/*.c)
EXT_SRC    := $(wildcard ext/*.c) $(wildcard vfs/*.c)
TEST_SRC   := $(wildcard c-tests/test_*.c)
TUTIL_SRC  := $(wildcard c-tests/util_*.c)
BENCH_SRC  := $(wildcard bench/bench_*.c)

ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
EXT_OBJ    := $(EXT_SRC:%.c=$(BUILD)/%.o)
TUTIL_OBJ  := $(TUTIL_SRC:%.c=$(BUILD)/%.o)
TESTS      := $(TEST_SRC:c-tests/%.c=$(BUILD)/tests/%)
BENCHES    := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
DEPSTAMP   := $(BUILD)/.deps-ok
FLAGSTAMP  := $(BUILD)/.cflags

.PHONY: all deps test asan valgrind demo bench clean check-tests crash-test
all: $(BUILD)/lsmvtab.so $(BUILD)/libengine.a

deps: scripts/deps.sh
	@scripts/deps.sh

# Checked once per build dir; re-checked when the script changes.
$(DEPSTAMP): scripts/deps.sh
	@mkdir -p $(BUILD)
	@scripts/deps.sh
	@touch $@

# The compile flags of this build dir, rewritten only when they change: every object and program
# depends on it, so a changed flag (OPT, SAN, a new -f option) rebuilds instead of mixing objects.
$(FLAGSTAMP): FORCE
	@mkdir -p $(BUILD)
	@echo '$(CFLAGS)' | cmp -s - $@ || echo '$(CFLAGS)' > $@
.PHONY: FORCE
FORCE:

$(BUILD)/%.o: %.c $(FLAGSTAMP) | $(DEPSTAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iengine -c $< -o $@

$(BUILD)/libengine.a: $(ENGINE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/lsmvtab.so: $(EXT_OBJ) $(BUILD)/libengine.a
	$(CC) -shared $(LTO_LINK) $(LDFLAGS) -o $@ $(EXT_OBJ) $(BUILD)/libengine.a $(LIBS)

$(BUILD)/tests/%: c-tests/%.c $(TUTIL_OBJ) $(BUILD)/libengine.a $(FLAGSTAMP) | $(DEPSTAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fno-lto -Iengine -Ic-tests -o $@ $< $(TUTIL_OBJ) $(BUILD)/libengine.a $(LDFLAGS) $(TESTLIBS) $(LIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libengine.a $(FLAGSTAMP) | $(DEPSTAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LTO_LINK) -Iengine -Ibench -o $@ $< $(BUILD)/libengine.a $(LDFLAGS) -lsqlite3 $(LIBS)

check-tests: $(BUILD)/lsmvtab.so $(TESTS)

test: check-tests
	@BUILD=$(BUILD) scripts/run-tests.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 LTO= \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" test

valgrind: check-tests
	@BUILD=$(BUILD) VALGRIND=1 scripts/run-tests.sh

demo: $(BUILD)/lsmvtab.so
	@BUILD=$(BUILD) scripts/demo.sh

bench: $(BUILD)/lsmvtab.so $(BENCHES)
	@BUILD=$(BUILD) scripts/run-bench.sh

# Long crash tests: SIGKILLed writers through the engine API (test_crash) and through SQL on an
# lsm table with sync=full (test_reliability_sqlcrash), LSMVTAB_CRASH_ITERS kills each (default
# 200; `make test` runs short versions).
crash-test: check-tests
	@BUILD=$(BUILD) LSMVTAB_CRASH_ITERS=$${LSMVTAB_CRASH_ITERS:-200} \
	  ONLY='^test_(crash|reliability_sqlcrash)$$' scripts/run-tests.sh

# Reliability tests (rel, c-tests/rel_util.h): the engine makes its own fio env, so these tests wrap
# fio_env_new/fio_env_free at link time to slip a fault env under lsm_open; they also link the
# extension's objects (SQL-level runs register it with sqlite3_auto_extension).
REL_TESTS := $(filter $(addprefix $(BUILD)/tests/test_,faults% powerloss% nomem% corrupt% concurrency% fuzz_replay% reliability_%),$(TESTS))
$(REL_TESTS): private LDFLAGS += -Wl,--wrap=fio_env_new -Wl,--wrap=fio_env_free $(EXT_OBJ) $(BUILD)/libengine.a
$(REL_TESTS): $(EXT_OBJ)

# libFuzzer targets fuzz/fuzz_*.c (clang, ASan+UBSan), FUZZ_SECONDS each (default 60); their
# corpora are replayed in `make test` by c-tests/test_fuzz_replay.c.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# Long reliability runs (rel): SQL-level crash test with 200 SIGKILLs (LSMVTAB_CRASH_ITERS), the
# power-loss campaign with >= 2,000 crash points x 3 seeds, and the other campaigns' long modes.
.PHONY: crash-test-sql powerloss-test reliability-long
crash-test-sql: check-tests
	@BUILD=$(BUILD) LSMVTAB_CRASH_ITERS=$${LSMVTAB_CRASH_ITERS:-200} ONLY='^test_reliability_sqlcrash$$' scripts/run-tests.sh
powerloss-test: check-tests
	@BUILD=$(BUILD) LSMVTAB_LONG=1 ONLY='^test_powerloss$$' scripts/run-tests.sh
reliability-long: check-tests
	@BUILD=$(BUILD) LSMVTAB_LONG=1 LSMVTAB_CRASH_ITERS=$${LSMVTAB_CRASH_ITERS:-200} \
	  ONLY='^test_(faults|faults_sql|corrupt|nomem|powerloss|concurrency|reliability_sqlcrash|crash)$$' scripts/run-tests.sh

# ThreadSanitizer (rel): the concurrency test (readers, a writer, flushes and compactions, engine
# and SQL level) built with clang -fsanitize=thread into build-tsan/ and run for 5 s per part;
# any TSan report fails it (halt_on_error).
.PHONY: tsan
tsan:
	@$(MAKE) --no-print-directory BUILD=build-tsan CC=clang OPT=-O1 LTO= SAN=-fsanitize=thread build-tsan/tests/test_concurrency
	@BUILD=build-tsan TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  LSMVTAB_CONC_MS=$${LSMVTAB_CONC_MS:-5000} ONLY='^test_concurrency$$' scripts/run-tests.sh

clean:
	rm -rf build build-asan build-tsan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Bench only: bench_engine with the RocksDB/LevelDB adapters, each compiled in when its
# Debian -dev header exists (never needed by `make test`).
BENCH_KV_DEFS :=
BENCH_KV_LIBS :=
ifneq ($(wildcard /usr/include/rocksdb/c.h),)
BENCH_KV_DEFS += -DHAVE_ROCKSDB
BENCH_KV_LIBS += -lrocksdb
endif
ifneq ($(wildcard /usr/include/leveldb/c.h),)
BENCH_KV_DEFS += -DHAVE_LEVELDB
BENCH_KV_LIBS += -lleveldb
endif
$(BUILD)/bench/bench_engine: bench/bench_engine.c bench/kv.h bench/kv_rocksdb.c bench/kv_leveldb.c $(BUILD)/libengine.a $(FLAGSTAMP) | $(DEPSTAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LTO_LINK) $(BENCH_KV_DEFS) -Iengine -Ibench -o $@ bench/bench_engine.c bench/kv_rocksdb.c bench/kv_leveldb.c $(BUILD)/libengine.a $(LDFLAGS) $(BENCH_KV_LIBS) -lsqlite3 $(LIBS)
