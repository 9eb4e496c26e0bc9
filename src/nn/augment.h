#pragma once
// Training's data augmentation, apart so that its tests can call it.

#include <cstdint>

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace aimc::nn::internal {

/// Random shifts by up to 2 pixels (zero padding) and, for colour images, horizontal flips, of
/// images [offset, offset + x.size(0)) of a batch of `batch` images (float, (N, C, H, W)): the
/// draws are those of the whole batch, applied to x's part. So the shards of one batch, each
/// augmented from a copy of one generator (the ranks of a data-parallel run), are the batch
/// augmented at once (one process).
torch::Tensor Augment(const torch::Tensor& x, at::Generator& generator, std::int64_t batch,
                      std::int64_t offset);

}  // namespace aimc::nn::internal
