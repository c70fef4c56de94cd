# Convenience targets around CMake. `make check` runs ./run-tests: it installs
# missing Debian packages, builds, and runs every suite twice: once in a Release
# build and once under AddressSanitizer + UndefinedBehaviorSanitizer, with
# warnings as errors.
#
# TESTS=ON|OFF and WERROR=ON|OFF set SYN_TESTS and SYN_WERROR when given;
# otherwise a configured tree keeps what it has (the defaults: tests on,
# warnings not errors). `make test` and `make test-asan` always build the tests.

BUILD      ?= build
ASAN_BUILD ?= build-asan
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc)
CMAKE_OPTS  = $(if $(TESTS),-DSYN_TESTS=$(TESTS)) $(if $(WERROR),-DSYN_WERROR=$(WERROR))

.PHONY: all deps build asan check test test-asan install bench clean serve

all: build

deps:
	./scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_OPTS)
	cmake --build $(BUILD) -j$(JOBS)

asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSYN_SANITIZE=ON $(CMAKE_OPTS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)

test test-asan: TESTS = ON

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# intercept_tls_get_addr=0: gcc 12's LeakSanitizer misreads the dynamic TLS of
# dlopen'ed libraries (libcurl, OpenSSL) on glibc 2.36 and crashes at exit.
test-asan: asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:intercept_tls_get_addr=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j$(JOBS)

check:
	./run-tests

install: build
	cmake --install $(BUILD)

# The main job: the HTTP API and the page on the default store ($$SYNAPSE_ROOT,
# else ~/.synapse/store), made first when there is none. HOST=, PORT= to change
# where it listens (default 127.0.0.1:8765). It prints the URL; Ctrl-C stops it.
serve: build
	./$(BUILD)/bin/synapse store init
	./$(BUILD)/bin/synapse serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

bench: build
	./bench/run.sh $(BUILD)
	./bench/install.sh $(BUILD)
	./bench/views.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
