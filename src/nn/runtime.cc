#include "aimc/nn/runtime.h"

#include <dlfcn.h>
#include <malloc.h>

#include <string>

#include <torch/torch.h>

#include "aimc/common/error.h"

namespace aimc::nn {

void KeepLargeBlocks() {
  static const bool once = [] {
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1024 << 20);
    return true;
  }();
  (void)once;
}

void RequireThreads(int threads) {
  Require(threads >= 1 && threads <= 256, "threads must be in 1..256, got {}", threads);
}

void SetThreads(int threads) {
  RequireThreads(threads);
  torch::set_num_threads(threads);
  // OpenBLAS keeps its own pool; left alone it spins up one thread per core next to OpenMP's.
  using SetFn = void (*)(int);
  if (auto* set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(threads);
}

std::string BlasInfo() {
  using ConfigFn = char* (*)();
  if (auto* config = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config")))
    return config();  // "OpenBLAS 0.3.21 ..."
  return "reference or unknown BLAS (install libopenblas-dev: Debian's LibTorch is ~2.4x slower "
         "without it)";
}

}  // namespace aimc::nn
