# The two commands of the README.
.PHONY: deps deps-demo demo test build meson loom

# Everything make test needs (valgrind, heaptrack, meson, ffmpeg, cargo-fuzz, ...).
deps:
	@bash scripts/install-deps.sh

# Only what building and running needs.
deps-demo:
	@bash scripts/install-deps.sh --demo

# The plugin (target/release/libgstrsrtpfast.so) and the demo share one
# build: Cargo.toml turns on the features the dev-dependencies would, so
# building the example does not rebuild the plugin, nor the other way round.
build: deps-demo
	cargo build --release --lib --example loopback

# Loopback sender -> UDP 127.0.0.1 -> receiver (decoding), once with the stock
# elements and once with ours, for H.264, Opus and L16: a side-by-side table of
# frames, RTP packets, CPU and heap allocations per packet, and their ratio.
# Fails if stock and ours disagree on frames. DEMO_ARGS="--frames 600".
DEMO_ARGS ?=
demo: build
	cargo run --quiet --release --example loopback -- $(DEMO_ARGS)

# Every check: formatting, lints, all tests (churn with its 200 pipelines and
# a short soak among them), the meson build, the full soak in release and the
# churn under valgrind memcheck.
# Each step's duration goes to target/step-times.txt (scripts/timed.sh).
TIMED = bash scripts/timed.sh
test: deps
	$(TIMED) fmt cargo fmt --all -- --check
	$(TIMED) clippy cargo clippy --all-targets --features performance -- -D warnings
	$(TIMED) clippy-test-panic cargo clippy --features performance,test-panic --test panic_paths --test panic_to_error -- -D warnings
	$(TIMED) cargo-test cargo test --all-targets --features performance
	$(TIMED) panic-tests cargo test --features performance,test-panic --test panic_paths --test panic_to_error
	$(TIMED) loom $(MAKE) loom
	$(TIMED) meson $(MAKE) meson
	$(TIMED) install-check $(MAKE) install-check
	$(TIMED) soak $(MAKE) soak
	$(TIMED) churn-memcheck $(MAKE) churn-memcheck
	$(TIMED) fuzz-smoke $(MAKE) fuzz-smoke

# Model-check the pool core with loom (its own target dir: --cfg loom
# rebuilds every crate).
loom:
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --test loom_pool_core

# System-wide install where Debian's/Ubuntu's GStreamer looks for plugins
# (pkg-config's pluginsdir: /usr/lib/<multiarch>/gstreamer-1.0), the plugin
# stripped of its debug info (~17 MB -> ~4 MB). Reuses the release build of
# `make build`/`make demo` (target/release). DESTDIR for packaging.
PLUGINDIR ?= $(shell pkg-config --variable=pluginsdir gstreamer-1.0)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
.PHONY: install uninstall install-check
install: deps-demo
	cargo build --release --lib
	@test -n "$(PLUGINDIR)" || { echo "pkg-config knows no gstreamer-1.0 pluginsdir"; exit 1; }
	$(if $(DESTDIR),,$(SUDO)) install -D -m 644 -s target/release/libgstrsrtpfast.so $(DESTDIR)$(PLUGINDIR)/libgstrsrtpfast.so
	@echo "installed $(DESTDIR)$(PLUGINDIR)/libgstrsrtpfast.so"

uninstall:
	$(if $(DESTDIR),,$(SUDO)) rm -f $(DESTDIR)$(PLUGINDIR)/libgstrsrtpfast.so
	@echo "removed $(DESTDIR)$(PLUGINDIR)/libgstrsrtpfast.so"

# The README's recipe on this machine: install, gst-inspect finds the plugin
# without GST_PLUGIN_PATH (a fresh registry), uninstall, it is gone. Needs
# root or sudo (it writes to /usr).
install-check:
	$(MAKE) install
	@reg=$$(mktemp -u); env -u GST_PLUGIN_PATH GST_REGISTRY=$$reg gst-inspect-1.0 rsrtpfast | grep -q rtpfasth264pay \
	  || { echo "gst-inspect-1.0 does not find the installed plugin"; $(MAKE) uninstall; exit 1; }; rm -f $$reg
	@! readelf -S $(PLUGINDIR)/libgstrsrtpfast.so | grep -q debug_info || { echo "installed plugin not stripped"; $(MAKE) uninstall; exit 1; }
	$(MAKE) uninstall
	@reg=$$(mktemp -u); ! env -u GST_PLUGIN_PATH GST_REGISTRY=$$reg gst-inspect-1.0 rsrtpfast >/dev/null 2>&1 \
	  || { echo "still found after uninstall"; exit 1; }; rm -f $$reg
	@echo "install + gst-inspect + uninstall OK"

meson:
	rm -rf build/meson
	meson setup build/meson --prefix=$(CURDIR)/build/install >/dev/null
	meson compile -C build/meson
	meson install -C build/meson >/dev/null
	GST_PLUGIN_PATH=$$(find $(CURDIR)/build/install -name 'libgstrsrtpfast.so' -printf '%h') \
	GST_REGISTRY=$(CURDIR)/build/registry.bin gst-inspect-1.0 rtpfasth264pay >/dev/null
	@echo "meson build + install OK"

# --- performance regression check (issue 4) --------------------------------
# Short criterion run of the rtp_suite bench (thread CPU time, so other
# processes on the machine matter less), compared with the committed
# baseline. Fails when a benchmark is > PERF_THRESHOLD % slower with
# Mann-Whitney p < PERF_ALPHA. `make perf-baseline` refreshes the baseline
# with the same command (see perf/README.md).
PERF_BENCH_ARGS ?= --warm-up-time 0.2 --measurement-time 0.5 --sample-size 10
# Stable subset: everything but the byte-at-a-time scalar scan loops (`off`,
# `scalar_ref`), whose time moves by up to ~40% between builds with code
# layout alone.
PERF_FILTER ?= ^(rtp/|packetizer_|depacketizer_|element_|(startcode|byteswap)[a-z0-9_]+/(sse2|avx2|neon|memmem)$$)
PERF_THRESHOLD ?= 20
PERF_ALPHA ?= 0.01
PERF_RESULTS ?= target/perf_check.json

.PHONY: perf-check perf-baseline perf-check-instr perf-baseline-instr
# PERF_REPORT_ONLY=1: print the comparison, never fail (CI: its machine is
# not the one the baseline's times were taken on).
perf-check:
	cargo build --quiet --bin perf_regression_detector
	cargo bench --quiet --features performance --bench rtp_suite -- '$(PERF_FILTER)' $(PERF_BENCH_ARGS) --output-format json > $(PERF_RESULTS)
	cargo run --quiet --bin perf_regression_detector -- --baseline perf/baseline.json --current $(PERF_RESULTS) --threshold $(PERF_THRESHOLD) --alpha $(PERF_ALPHA) $(if $(PERF_REPORT_ONLY),--report-only)

# Instructions per packet of our elements under callgrind, against
# perf/instructions.json: the same count on any machine for the same build,
# so this is the regression gate CI can trust. The SIMD level is pinned (the
# lowest every CPU of the architecture has) so the code counted does not
# depend on the CPU; the stock elements are counted beside ours for context.
PERF_INSTR_PAIRS ?= h264pay,h264depay,h265pay,h265depay,l16pay,l16depay,l24pay,l24depay,opuspay,opusdepay,mp2tpay,mp2tdepay,vrawpay,vrawdepay
PERF_INSTR_SIMD ?= $(if $(filter aarch64,$(shell uname -m)),neon,sse2)
PERF_INSTR_THRESHOLD ?= 10
PERF_INSTR_RESULTS ?= target/perf_instr.json
PERF_INSTR_RUN = cargo build --quiet --release --bin rtp_perf_compare && \
	RSRTPFAST_SIMD=$(PERF_INSTR_SIMD) target/release/rtp_perf_compare --instructions \
	--only $(PERF_INSTR_PAIRS) --frames 30 --rounds 1 --min-packets 1000 --streams 2 --format json
perf-check-instr:
	cargo build --quiet --bin perf_regression_detector
	$(PERF_INSTR_RUN) > $(PERF_INSTR_RESULTS)
	cargo run --quiet --bin perf_regression_detector -- --instructions --baseline perf/instructions.json --current $(PERF_INSTR_RESULTS) --threshold $(PERF_INSTR_THRESHOLD)

perf-baseline-instr:
	mkdir -p perf
	$(PERF_INSTR_RUN) > perf/instructions.json.tmp
	mv perf/instructions.json.tmp perf/instructions.json

perf-baseline:
	mkdir -p perf
	cargo bench --quiet --features performance --bench rtp_suite -- '$(PERF_FILTER)' $(PERF_BENCH_ARGS) --output-format json > perf/baseline.json.tmp
	mv perf/baseline.json.tmp perf/baseline.json
	@echo "perf/baseline.json: $$(wc -l < perf/baseline.json) benchmarks"

# --- README performance figures (issue 14) ---------------------------------
# Measure every pair (instructions per packet under callgrind, times,
# allocations, resident memory), keep the run's JSON in docs/perf.json and
# regenerate from it the README regions between the `perf-report:begin` /
# `perf-report:end` markers and the chart docs/perf.svg: no number there is
# typed by hand. ~10 min on a 2-core machine. `make perf-report-render`
# redoes only the README regions and the chart from docs/perf.json.
PERF_REPORT_ARGS ?= --instructions --frames 100 --rounds 5 --streams 200
PERF_REPORT_JSON ?= docs/perf.json
PERF_REPORT_CHART ?= docs/perf.svg
.PHONY: perf-report perf-report-render
perf-report: deps
	cargo build --quiet --release --bin rtp_perf_compare
	target/release/rtp_perf_compare $(PERF_REPORT_ARGS) --format json > $(PERF_REPORT_JSON).tmp
	mv $(PERF_REPORT_JSON).tmp $(PERF_REPORT_JSON)
	$(MAKE) perf-report-render

perf-report-render:
	cargo build --quiet --release --bin rtp_perf_compare
	target/release/rtp_perf_compare --from-json $(PERF_REPORT_JSON) --plot $(PERF_REPORT_CHART) --readme docs/performance.md

# --- heap profile (issue 4) ------------------------------------------------
# valgrind massif + heaptrack per element (stock and ours, H.264/H.265) and
# rtp_perf_compare's resident bytes per stream, as one table. Installs
# heaptrack/valgrind via apt when missing. PROFILE_ARGS="frames_small frames_large".
PROFILE_ARGS ?=
.PHONY: profile pool-profile
profile: deps
	bash scripts/profile.sh $(PROFILE_ARGS)

# Pool alone: heap allocations per buffer and peak heap, pool::acquire vs
# gst::Buffer::with_size on the same workload (valgrind memcheck + massif,
# heaptrack when installed).
pool-profile: deps
	bash scripts/pool_massif.sh

# --- soak and churn (issue 13) ----------------------------------------------
# soak: SOAK_PACKETS RTP packets per format (H.264, L16) through pay ! depay
# in a release build: every frame/sample checked, RSS flat after warm-up,
# pool high-water bounded; prints time, packets/s, RSS and pool figures.
# churn: CHURN_PIPELINES short pipelines over every format and the wrapper
# bins beside background streams (property changes, flushing seeks, watchdog).
# churn-memcheck: a shortened churn under valgrind memcheck; fails unless the
# leak summary says "definitely lost: 0 bytes".
SOAK_PACKETS ?= 10000000
CHURN_PIPELINES ?= 200
CHURN_MEMCHECK_PIPELINES ?= 14
CHURN_MEMCHECK_LOG ?= target/memcheck/churn.log
.PHONY: soak churn churn-memcheck
soak:
	RSRTPFAST_SOAK_PACKETS=$(SOAK_PACKETS) cargo test --release --features performance --test soak -- --nocapture --test-threads=1

churn:
	RSRTPFAST_CHURN_PIPELINES=$(CHURN_PIPELINES) cargo test --features performance --test churn -- --nocapture

churn-memcheck: deps
	bash scripts/memcheck.sh $(CHURN_MEMCHECK_LOG) churn \
		RSRTPFAST_CHURN_PIPELINES=$(CHURN_MEMCHECK_PIPELINES) RSRTPFAST_CHURN_WORKERS=2 \
		RSRTPFAST_CHURN_WATCHDOG_SECS=600
	bash scripts/memcheck.sh $(dir $(CHURN_MEMCHECK_LOG))pool_stress.log pool_stress
	@# The gate must fail on a fault: one churn pipeline with an injected
	@# invalid read (tests/churn.rs, RSRTPFAST_MEMCHECK_INJECT).
	@if bash scripts/memcheck.sh $(dir $(CHURN_MEMCHECK_LOG))proof.log churn \
		RSRTPFAST_CHURN_PIPELINES=1 RSRTPFAST_MEMCHECK_INJECT=1 >/dev/null 2>&1; then \
		echo "churn-memcheck: the gate passed an injected invalid read" >&2; exit 1; fi
	@grep -q "Invalid read" $(dir $(CHURN_MEMCHECK_LOG))proof.log || \
		{ echo "churn-memcheck: the injected fault was not an invalid read" >&2; exit 1; }
	@echo "churn-memcheck: the gate fails on an injected invalid read"

# --- fuzzing (issue 13) ----------------------------------------------------
# Coverage-guided fuzzing of the pure-Rust core (src/core) with cargo-fuzz /
# libFuzzer on stable Rust (no sanitizer): fuzz/README.md. fuzz-smoke runs
# every target for FUZZ_RUNS executions, fuzz for FUZZ_SECONDS each;
# FUZZ_TARGETS="h264_depay vraw_pay" picks targets. Seeds are generated from
# the stock elements on first use (fuzz/corpus, not committed).
FUZZ_RUNS ?= 1000000
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=
.PHONY: fuzz fuzz-smoke
fuzz-smoke: deps
	FUZZ_RUNS=$(FUZZ_RUNS) bash fuzz/run.sh smoke $(FUZZ_TARGETS)

fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh long $(FUZZ_TARGETS)

# The founding document's commands, all six, as written (tests/founding_commands.rs;
# `cargo test` runs five of them, this adds the one that builds every test
# target in release).
.PHONY: founding-commands
founding-commands: deps
	cargo test --test founding_commands -- --include-ignored --nocapture
