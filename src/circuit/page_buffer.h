#pragma once

#include <cstddef>
#include <vector>

namespace aimc::circuit::internal {

// Large, short-lived work arrays are mapped so that the kernel may back them with 2 MB pages.
// Fresh memory is paid for page by page when first touched, and on virtual machines a 4 KB page
// fault can cost ~50 us (measured on the 2-core development VM: 1.9 s for 128 MB, 0.1 s with
// 2 MB pages), more than the arithmetic of a 1024 x 1024 array's fronts.

/// `bytes` of zero-filled memory; blocks of 2 MB or more start on a 2 MB boundary with huge
/// pages advised. Throws std::bad_alloc.
void* AllocatePages(std::size_t bytes);
/// Frees what AllocatePages(bytes) returned.
void FreePages(void* data, std::size_t bytes);

/// An allocator for std::vector through AllocatePages.
template <typename T>
struct PageAllocator {
  using value_type = T;
  PageAllocator() = default;
  template <typename U>
  PageAllocator(const PageAllocator<U>&) {}  // NOLINT: allocators convert implicitly
  T* allocate(std::size_t n) { return static_cast<T*>(AllocatePages(n * sizeof(T))); }
  void deallocate(T* data, std::size_t n) { FreePages(data, n * sizeof(T)); }
  friend bool operator==(const PageAllocator&, const PageAllocator&) { return true; }
};

template <typename T>
using PageVector = std::vector<T, PageAllocator<T>>;

/// A zero-filled block from AllocatePages, freed with its owner.
class PageBuffer {
 public:
  explicit PageBuffer(std::size_t bytes) : bytes_(bytes), data_(AllocatePages(bytes)) {}
  ~PageBuffer() { FreePages(data_, bytes_); }
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  void* data() const { return data_; }

 private:
  std::size_t bytes_;
  void* data_;
};

}  // namespace aimc::circuit::internal
