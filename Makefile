# The two entry points of the README.
.PHONY: demo test test-cgroup2 conformance bench fmt lint

demo:
	./scripts/demo.sh

test:
	./scripts/deps.sh --test
	# The static helpers the container tests run (tests never build them).
	cargo build -p berth-monitor -p berth-init
	cargo test --workspace -- --test-threads=2

# The cgroups host tests and most of berth-oci's integration tests (cgroups first)
# in a VM booted with a pure cgroup v2 hierarchy (see tests/vm/run-cgroup2.sh).
test-cgroup2:
	./scripts/deps.sh --vm
	cargo test -p berth-oci -p berth-cgroups --no-run
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

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
