#include "page_buffer.h"

#include <cstdint>
#include <cstdlib>
#include <new>

#include <sys/mman.h>

namespace aimc::circuit::internal {

namespace {
constexpr std::size_t kHugePage = std::size_t(2) << 20;
}  // namespace

PageBuffer::PageBuffer(std::size_t bytes) {
  if (bytes < kHugePage) {  // small: the allocator's recycled memory is cheaper
    data_ = std::calloc(bytes == 0 ? 1 : bytes, 1);
    if (data_ == nullptr) throw std::bad_alloc();
    return;
  }
  // One extra huge page so that the block can start on a 2 MB boundary.
  mapped_bytes_ = (bytes + 2 * kHugePage - 1) / kHugePage * kHugePage;
  mapping_ =
      mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping_ == MAP_FAILED) {
    mapping_ = nullptr;
    throw std::bad_alloc();
  }
  const auto address = reinterpret_cast<std::uintptr_t>(mapping_);
  data_ = reinterpret_cast<void*>((address + kHugePage - 1) / kHugePage * kHugePage);
  // Advice only: without transparent huge pages the block is plain anonymous memory.
  madvise(data_, mapped_bytes_ - kHugePage, MADV_HUGEPAGE);
}

PageBuffer::~PageBuffer() {
  if (mapping_ != nullptr) {
    munmap(mapping_, mapped_bytes_);
  } else {
    std::free(data_);
  }
}

}  // namespace aimc::circuit::internal
