#pragma once

#include <cstddef>

namespace aimc::circuit::internal {

/// A zero-filled block of memory for the large, short-lived work arrays of one elimination,
/// mapped so that the kernel may back it with 2 MB pages. Fresh memory is paid for page by page
/// when first touched, and on virtual machines a 4 KB page fault can cost ~50 us (measured on
/// the 2-core development VM: 1.9 s for 128 MB, 0.1 s with 2 MB pages), more than the arithmetic
/// of a 1024 x 1024 array's fronts.
class PageBuffer {
 public:
  explicit PageBuffer(std::size_t bytes);
  ~PageBuffer();
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  void* data() const { return data_; }

 private:
  void* mapping_ = nullptr;
  std::size_t mapped_bytes_ = 0;
  void* data_ = nullptr;
};

}  // namespace aimc::circuit::internal
