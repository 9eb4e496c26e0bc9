#pragma once
// Test accuracy of a network on a data set, with or without chips programmed on it.

#include <cstdint>
#include <vector>

#include "aimc/nn/data.h"
#include "aimc/nn/network.h"

namespace aimc::nn {

/// Throws aimc::Error unless the data's images (channels, height, width) and classes are the
/// network's.
void RequireFits(const NetworkOptions& network, const Dataset& data);

/// Accuracy (0..1) on a data set in eval mode with the network's current chip (if any); the data
/// must fit the network (RequireFits).
double Evaluate(NetworkImpl& network, const Dataset& data, std::int64_t batch_size = 1000);
/// The accuracy of each of the K chips already programmed side by side on the network
/// (NetworkImpl::ProgramChips), all in one pass over `data`; batches of batch_size images.
/// experiment::EvaluateChips programs such chips and calls it.
std::vector<double> EvaluateSideBySide(NetworkImpl& network, const Dataset& data,
                                       std::int64_t batch_size = 1000);
/// Which images each of the K chips side by side (one row when none is programmed) got wrong:
/// row k, entry i is 1 when chip k misclassified image i. The rows' means are 1 - the accuracies
/// of EvaluateSideBySide; they let a result be resampled over images (spec intervals).
std::vector<std::vector<std::uint8_t>> WrongImages(NetworkImpl& network, const Dataset& data,
                                                   std::int64_t batch_size = 1000);

}  // namespace aimc::nn
