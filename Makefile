# Sluice: the two commands a newcomer needs.
#   make demo   install missing packages, build, run the flagship example
#   make test   install missing packages, build, run every test (CTest summary at the end)
# Extras: make bench, make soak, make asan, make tsan, make ubsan-windows, make clean.

BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps configure build demo test bench soak asan tsan ubsan-windows clean

all: build

deps:
	@bash tools/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS) > /dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# Checkpointed to RocksDB in a fresh state directory each time (README:
# kill it and run card_fraud_alerts again on the same --state to see recovery).
demo: build
	@rm -rf $(BUILD)/demo-state
	@$(BUILD)/examples/card_fraud_alerts --state $(BUILD)/demo-state

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: deps
	@cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build build-release -j $(JOBS) --target bench_workloads bench_sliding bench_count_windows bench_checkpoints
	@build-release/bench/bench_workloads
	@build-release/bench/bench_sliding
	@build-release/bench/bench_count_windows
	@build-release/bench/bench_checkpoints

# The crash test at length: KILLS SIGKILLs of examples/crash_replay over EVENTS
# events, a new seed each time (printed on failure; SLUICE_CRASH_SEED repeats it).
KILLS  ?= 100
EVENTS ?= 1000000
soak: build
	@SLUICE_CRASH_SEED=$${SLUICE_CRASH_SEED:-$$(date +%s)} SLUICE_CRASH_KILLS=$(KILLS) SLUICE_CRASH_EVENTS=$(EVENTS) \
		$(BUILD)/tests/checkpoint_tests "[crash]" --durations yes

asan:
	@$(MAKE) test BUILD=build-asan BUILD_TYPE=Debug CMAKE_ARGS=-DSLUICE_SANITIZE=address

tsan:
	@$(MAKE) test BUILD=build-tsan BUILD_TYPE=RelWithDebInfo CMAKE_ARGS=-DSLUICE_SANITIZE=thread

# The window and streaming suites only, under ASan+UBSan (signed overflow
# aborts): the time arithmetic lives there. Small enough for CI; shares
# build-asan with `make asan`.
ubsan-windows: deps
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=address > /dev/null
	@cmake --build build-asan -j $(JOBS) --target windows_tests streaming_tests
	@# Each suite binary once, whole (every case; the per-case entries would run them twice).
	@cd build-asan && ctest --output-on-failure -j $(JOBS) -R '^(windows|streaming): every test case$$'

clean:
	rm -rf build build-release build-asan build-tsan
