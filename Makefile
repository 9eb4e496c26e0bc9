# The two commands of the README's Quick start, and a few more for developers.
#   make run   install what is missing, build, run `aimc reproduce` (quick profile) into results/
#   make test  install what is missing, build, run every test through CTest
PRESET ?= release
BUILD_DIR := build/$(PRESET)
AIMC := $(BUILD_DIR)/apps/aimc/aimc
# LibTorch's OpenMP threads spin on busy cores unless told to wait passively.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: all deps build data run test bench format clean

all: build

deps:
	bash scripts/install-deps.sh

build: deps
	cmake --preset $(PRESET)
	cmake --build --preset $(PRESET)

data: build
	@if $(AIMC) help data >/dev/null 2>&1; then $(AIMC) data prepare; fi

run: data
	$(AIMC) reproduce --profile quick --out results

test: data
	ctest --preset $(PRESET)

bench: build
	bash bench/run.sh $(BUILD_DIR)

format:
	find include src apps bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf build
