# The two entry points of the README.
.PHONY: demo test conformance bench fmt lint

demo:
	./scripts/demo.sh

test:
	./scripts/deps.sh --test
	# The static helpers the container tests run (tests never build them).
	cargo build -p berth-monitor -p berth-init
	cargo test --workspace -- --test-threads=2

# The OCI runtime-tools validation suite (see docs/CONFORMANCE.md).
conformance:
	cargo build --release -p berth-oci
	./scripts/hugetlb-v1.sh
	../shared/conformance/run-validation.sh target/release/berth-oci | tee /tmp/berth-conformance.log
	python3 scripts/conformance-table.py /tmp/berth-conformance.log ../shared/conformance/BASELINE.md

bench:
	./bench/runtime/run.sh
	./bench/pull/run.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
