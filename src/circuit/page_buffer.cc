#include "page_buffer.h"

#include <cstdint>
#include <cstdlib>
#include <new>

#include <sys/mman.h>

namespace aimc::circuit::internal {

namespace {
constexpr std::size_t kHugePage = std::size_t(2) << 20;

std::size_t RoundUp(std::size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }
}  // namespace

void* AllocatePages(std::size_t bytes) {
  if (bytes < kHugePage) {  // small: the allocator's recycled memory is cheaper
    void* data = std::calloc(bytes == 0 ? 1 : bytes, 1);
    if (data == nullptr) throw std::bad_alloc();
    return data;
  }
  // Map one huge page more than needed and unmap the ends around a 2 MB aligned block.
  const std::size_t size = RoundUp(bytes);
  void* mapping =
      mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(mapping);
  const std::uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start) munmap(mapping, aligned - start);
  const std::uintptr_t end = start + size + kHugePage;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  void* data = reinterpret_cast<void*>(aligned);
  // Advice only: without transparent huge pages the block is plain anonymous memory.
  madvise(data, size, MADV_HUGEPAGE);
  return data;
}

void FreePages(void* data, std::size_t bytes) {
  if (data == nullptr) return;
  if (bytes < kHugePage) {
    std::free(data);
  } else {
    munmap(data, RoundUp(bytes));
  }
}

}  // namespace aimc::circuit::internal
