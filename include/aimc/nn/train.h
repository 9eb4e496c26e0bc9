#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "aimc/nn/data.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/network.h"
#include "aimc/nn/train_options.h"

namespace aimc::nn {

/// The network options for a data set: channels, image size and classes from the data.
NetworkOptions NetworkFor(const std::string& arch, const Dataset& train);

/// Trains `network_options` on `data`. When `checkpoint` is given, the model, optimizer, epoch,
/// options and seed are saved there after every epoch (atomically), and a checkpoint already
/// there with the same options is resumed: the run continues bit for bit as if never stopped
/// (the shuffling and noise of epoch e are drawn from seeds derived from (seed, e)).
/// With `options.init_from` it fine-tunes that model (hardware-aware fine-tuning of a clean
/// network: same loop, the init's weights instead of random ones); the result's options carry
/// the init's hash. `on_epoch` is called after every epoch.
///
/// Data-parallel (options.ranks = N > 1, in an MPI job of N ranks, every rank calling Train with
/// the same arguments): one network trained by all ranks. Every rank draws the same shuffle;
/// rank r takes the r-th contiguous shard of each global batch (sizes differ by at most one),
/// draws the augmentation of the whole global batch and applies its shard's part, and scales
/// its mean loss by shard / batch, so that the gradients summed over ranks (one MPI_Allreduce
/// of all gradients per step) are those of the global batch's mean loss. Every layer's weight
/// noise comes from the same seed on every rank: the same draw. Each rank's BatchNorm normalizes
/// its shard; the running statistics are averaged over ranks at the end of every epoch (they
/// are linear in the batch statistics, so this equals averaging every step). The test set is
/// sharded and the correct counts summed; the epoch's loss and accuracy are sums over ranks.
/// At the end of every epoch the ranks check that they hold the same parameters, buffers and
/// noise stream (a fingerprint compared over ranks), else every rank throws
/// cluster::CollectiveError. Only rank 0 writes the checkpoint (a failed write is every rank's
/// CollectiveError); every rank reads it to resume, so it must lie in a folder all ranks see
/// (checked: same content on every rank), and it resumes only with the same N. The result and
/// the `on_epoch` calls are the same on every rank; `on_epoch` must act alike on every rank (a
/// throw on some ranks only would leave the others waiting in the next step).
///
///   TrainOptions ft = clean.info.training;  // e.g. the clean model's data and subsets
///   ft.init_from = "clean.pt";
///   ft.sigma_train = 0.3;
///   ft.epochs = 2;
///   ft.learning_rate = 1e-3;
///   Model r = Train(clean.info.network, ft, data, "ft.pt");
Model Train(const NetworkOptions& network_options, const TrainOptions& options,
            const DataSplit& data, const std::filesystem::path& checkpoint = {},
            const std::function<void(const EpochStats&)>& on_epoch = nullptr);

}  // namespace aimc::nn
