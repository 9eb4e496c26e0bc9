#pragma once
// Evaluation's correct counts, apart so that data-parallel training can sum them over ranks.

#include <cstdint>

#include <torch/types.h>

#include "aimc/nn/data.h"
#include "aimc/nn/network.h"

namespace aimc::nn::internal {

/// Correct predictions of each of the network's chips (1 when none is programmed) over `data`.
/// Batches are spread over the library's threads, each batch computed by one thread alone
/// (nested LibTorch operations run serially): small networks use the cores far better so than
/// with threads inside every operation, and each batch's arithmetic, hence the result, does not
/// depend on the thread count. Forward passes in eval mode without gradients only read the
/// network.
torch::Tensor CountCorrect(NetworkImpl& network, const Dataset& data, std::int64_t batch_size);
/// Per image and chip (images x chips, bool): whether the chip classified the image correctly.
torch::Tensor CorrectFlags(NetworkImpl& network, const Dataset& data, std::int64_t batch_size);

}  // namespace aimc::nn::internal
