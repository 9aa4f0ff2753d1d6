# The two commands of the README.
.PHONY: deps demo test build meson

deps:
	@bash scripts/install-deps.sh

build: deps
	cargo build --release

# Loopback sender -> receiver with the fast elements; prints what it measured.
demo: build
	cargo run --release --example loopback

# Every check: formatting, lints, all tests, and the meson build.
test: deps
	cargo fmt --all -- --check
	cargo clippy --all-targets --features performance -- -D warnings
	cargo test --all-targets --features performance
	$(MAKE) meson

meson:
	rm -rf build/meson
	meson setup build/meson --prefix=$(CURDIR)/build/install >/dev/null
	meson compile -C build/meson
	meson install -C build/meson >/dev/null
	GST_PLUGIN_PATH=$$(find $(CURDIR)/build/install -name 'libgstrsrtpfast.so' -printf '%h') \
	GST_REGISTRY=$(CURDIR)/build/registry.bin gst-inspect-1.0 rtpfasth264pay >/dev/null
	@echo "meson build + install OK"
