# The two entry points of the README.
.PHONY: demo test conformance bench fmt lint

demo:
	./scripts/demo.sh

test:
	./scripts/deps.sh --test
	cargo test --workspace -- --test-threads=2

conformance:
	cargo build --release -p berth-oci
	../shared/conformance/run-validation.sh target/release/berth-oci

bench:
	./bench/runtime/run.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
