# The two commands of the README:
#   make demo   installs what is missing, builds in release mode and runs the demo
#   make test   installs what is missing, builds and runs every test (Swift and Python; the heap-allocation tests
#               once more in a release build, where their counts mean something)
# Both install Debian's libraries and the Python test packages themselves, so a fresh machine needs nothing else.

APT_PACKAGES := libopenblas-dev libturbojpeg0-dev libjansson-dev libspng-dev libdcmtk-dev dcmtk libhdf5-dev pkg-config jq openmpi-bin libopenmpi-dev
PY_TEST_PACKAGES := numpy pytest jsonschema safetensors nbclient nbformat ipykernel matplotlib pydicom pillow pandas tensorboard distributed pyarrow mypy
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTHON ?= python3
SWIFT_BUILD_FLAGS ?=

.PHONY: demo test deps python-deps build release swift-test swift-test-release python-test fuzz bench format lint clean openrpc

# The demo's Python packages (the client itself is installed from ./Examples/python); DEMO_ARGS are passed to
# Examples/demo/demo.py, e.g. `make demo DEMO_ARGS="../shared/data/lungseg --seconds 120"`.
DEMO_PY_PACKAGES := numpy matplotlib tqdm
DEMO_ARGS ?=

demo: deps
	swift build -c release --product unet-engine $(SWIFT_BUILD_FLAGS)
	@$(PYTHON) -m pip --version >/dev/null 2>&1 || { echo "installing: python3-pip"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-pip; }
	@$(PYTHON) -c "import unet_engine, numpy, matplotlib, tqdm" 2>/dev/null || { echo "installing: unet_engine $(DEMO_PY_PACKAGES)"; \
		PIP_BREAK_SYSTEM_PACKAGES=1 $(PYTHON) -m pip install -q ./Examples/python $(DEMO_PY_PACKAGES); }
	UNET_ENGINE_BIN=$(CURDIR)/.build/release/unet-engine $(PYTHON) Examples/demo/demo.py $(DEMO_ARGS)

test: deps python-deps build swift-test swift-test-release fuzz python-test

deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

python-deps:
	@$(PYTHON) -c "import numpy, pytest, jsonschema, safetensors, nbclient, nbformat, ipykernel, matplotlib, pydicom, PIL, pandas, tensorboard, distributed, pyarrow, mypy" 2>/dev/null || \
		PIP_BREAK_SYSTEM_PACKAGES=1 $(PYTHON) -m pip install -q $(PY_TEST_PACKAGES)

build:
	swift build --build-tests $(SWIFT_BUILD_FLAGS)

release:
	swift build -c release $(SWIFT_BUILD_FLAGS)

swift-test:
	swift test $(SWIFT_BUILD_FLAGS)

# A debug build allocates where the optimizer would not (closure contexts, array literals), so the tests that a
# warm step makes no heap allocation run optimized; so do the eff-unet tests, whose finite differences and
# ten golden Adam steps take minutes unoptimized (they skip in the debug run).
# Test processes skip the engine's start-up BLAS core check, so they run the core OpenBLAS picks by itself (Prescott
# on an Intel Xeon family 6 model 207 with OpenBLAS 0.3.21); this run takes the core the engine runs instead,
# whose kernels are the ones users get (the AVX-512 cores' small products used to allocate).
swift-test-release:
	@core=$$(echo '{"jsonrpc":"2.0","id":1,"method":"engine.hello"}' | $(CURDIR)/.build/debug/unet-engine 2>/dev/null | jq -r '.result.blas.core'); \
	echo "optimized tests with OPENBLAS_CORETYPE=$$core, the core the engine runs on this CPU"; \
	OPENBLAS_CORETYPE=$$core swift test -c release --filter 'AllocationTests|EffUNetTests|SIMDKernelTests|WinogradRowsTests' $(SWIFT_BUILD_FLAGS)

# The client type-checks strictly (it ships py.typed), then the Python tests drive the debug engine.
python-test:
	cd Examples/python && $(PYTHON) -m mypy --strict unet_engine
	UNET_ENGINE_BIN=$(CURDIR)/.build/debug/unet-engine $(PYTHON) -m pytest -q Tests/python

# Mutated transcripts against the debug engine for FUZZ_SECONDS (seeded); fails if the engine dies or writes a
# line that is not JSON-RPC. By hand, longer: `make fuzz FUZZ_SECONDS=600 FUZZ_SEED=7`.
FUZZ_SECONDS ?= 60
FUZZ_SEED ?= 1
fuzz:
	UNET_ENGINE_BIN=$(CURDIR)/.build/debug/unet-engine $(PYTHON) Tests/fuzz/fuzz_protocol.py --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED)

# Protocol/openrpc.json from the method declarations (OpenRPCDocumentTests fails until it is regenerated).
openrpc:
	swift build --product unet-engine $(SWIFT_BUILD_FLAGS)
	$(CURDIR)/.build/debug/unet-engine --openrpc > Protocol/openrpc.json

# The benchmark (release build): the sgemm ceiling, per-op throughput and whole models. BENCH_ARGS are passed on,
# e.g. `make bench BENCH_ARGS="--quick --threads 2"`; `.build/release/unet-bench --help` lists the scenarios.
BENCH_ARGS ?=
bench:
	swift build -c release --product unet-bench $(SWIFT_BUILD_FLAGS)
	.build/release/unet-bench $(BENCH_ARGS)

# swift-format (it ships with the toolchain) with the repository's .swift-format: `make format` rewrites Sources,
# Tests and Examples in place, `make lint` only reports.
FORMAT_PATHS := Sources Tests Examples
format:
	swift format format --in-place --recursive --parallel $(FORMAT_PATHS)

lint:
	swift format lint --recursive --parallel $(FORMAT_PATHS)

clean:
	rm -rf .build
