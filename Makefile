# The two entry points of the README.
.PHONY: demo test test-cgroup2 conformance bench fmt lint fuzz

demo:
	./scripts/demo.sh

# Where the tests list what they skipped (berth_testkit::skip: a missing
# prerequisite; under CI=true that fails the test instead).
SKIPS := $(CURDIR)/target/test-skips.txt

test:
	./scripts/deps.sh --test
	# The static helpers the container tests run (tests never build them).
	cargo build -p berth-monitor -p berth-init
	@mkdir -p target && rm -f $(SKIPS)
	# Then the engine's lifecycle, config and control (pause, top, restart) suites again through each external OCI
	# runtime (`--runtime crun|runc`), the built-in one having run above.
	# crun 1.8 refuses a hybrid host whose cgroup2 hierarchy holds a controller
	# (hugetlb on Debian 12): move it to a v1 hierarchy first, as conformance does.
	BERTH_TEST_SKIPS=$(SKIPS) cargo test --workspace --no-fail-fast -- --test-threads=2; status=$$?; \
	  ./scripts/hugetlb-v1.sh || status=1; \
	  for rt in crun runc; do \
	    BERTH_TEST_RUNTIME=$$rt BERTH_TEST_SKIPS=$(SKIPS) \
	      cargo test -p berth-engine --no-fail-fast --test lifecycle --test config --test control -- --test-threads=2 || status=1; \
	  done; \
	  n=$$(cat $(SKIPS) 2>/dev/null | wc -l); \
	  echo "$$n test(s) skipped"; \
	  [ "$$n" -eq 0 ] || sort $(SKIPS); \
	  exit $$status

# Each cargo-fuzz target (fuzz/, nightly; `cargo install cargo-fuzz`) for
# FUZZ_SECONDS, one at a time. Not part of `make test`.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := image_config manifest reference unpack_path layer oci_config compose dockerfile dockerignore

fuzz:
	cd fuzz && cargo +nightly fuzz build -O
	set -e; cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t; \
	  cargo +nightly fuzz run -O $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS); \
	done

# The cgroups host tests, most of berth-oci's integration tests (cgroups first)
# and the engine's lifecycle and resources tests in a VM booted with a pure cgroup v2 hierarchy (see tests/vm/run-cgroup2.sh).
test-cgroup2:
	./scripts/deps.sh --vm
	cargo build -p berth-monitor -p berth-init
	cargo test -p berth-oci -p berth-cgroups -p berth-engine --no-run
	./tests/vm/run-cgroup2.sh

# The OCI runtime-tools validation suite (see docs/CONFORMANCE.md).
conformance:
	cargo build --release -p berth-oci
	./scripts/hugetlb-v1.sh
	../shared/conformance/run-validation.sh target/release/berth-oci | tee /tmp/berth-conformance.log
	python3 scripts/conformance-table.py /tmp/berth-conformance.log ../shared/conformance/BASELINE.md

bench:
	./bench/runtime/run.sh
	./bench/run/run.sh
	./bench/pull/run.sh
	./bench/ps/run.sh
	./bench/events/run.sh
	./bench/compose/run.sh
	./bench/build/run.sh
	./bench/api/run.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
