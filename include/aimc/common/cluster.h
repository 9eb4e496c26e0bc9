#pragma once
// Running on many processes with MPI (mpirun / srun). A build without MPI, or a process that no
// MPI launcher started, is one rank of one: every function here then does the serial thing.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "aimc/common/error.h"

namespace aimc::cluster {

/// Starts MPI for the life of the object when the process was started by an MPI launcher
/// (mpirun, mpiexec, srun: they set OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK); otherwise,
/// and in a build without MPI, does nothing. One per process, made first in main.
class Session {
 public:
  Session(int* argc, char*** argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

/// True when aimc was built with MPI.
bool Built();
/// This process's rank and the number of ranks (0 and 1 without MPI): within a Split, the
/// group's.
int Rank();
int Size();
/// Rank 0: the one that writes results, manifests and reports (within a Split, the group's
/// rank 0, which writes the group's files).
inline bool IsWriter() { return Rank() == 0; }
/// The job's own rank and size, whatever Split is in force.
int WorldRank();
int WorldSize();
/// "rank 2 of 4" (empty with one rank), the job's rank, for log lines and errors.
std::string Where();

/// The ranks in groups for the life of the object: the ranks that pass the same `group` (>= 0)
/// form one, ordered as they were, and Rank(), Size() and every collective call here (Barrier,
/// Broadcast, OnWriter, OnEveryRank, AllReduceSum, Distribute) are the group's until the object
/// ends; then the ranks are as before. Collective over the current ranks (every one makes its
/// Split at the same point); Splits nest. For work that a group of ranks does together while
/// other groups do other work, such as a data-parallel training beside independent ones:
///
///   { cluster::Split group(Rank() < 2 ? 0 : 1); ... collective work of the group ... }
///   cluster::Broadcast(result, 2);  // then share what group 1 made, from its first rank
class Split {
 public:
  explicit Split(int group);
  ~Split();
  Split(const Split&) = delete;
  Split& operator=(const Split&) = delete;

 private:
  // The ranks as they were before: this rank, their count, their job ranks, their communicator
  // (an MPI_Comm; null when nothing was split).
  int rank_, size_;
  std::vector<int> members_;
  void* comm_;
};

/// An error every rank raises at the same point of a collective step (a failed work item, a
/// refused result file). main() prints it once (rank 0) and ends every rank cleanly.
class CollectiveError : public Error {
 public:
  using Error::Error;
};

/// Ends the whole job after an error seen by this rank only: MPI_Abort with `code` (with one
/// rank: std::exit).
[[noreturn]] void AbortJob(int code);

/// Waits for every rank. Waiting ranks sleep between polls, so that a waiting rank does not take
/// the core of one still computing (OpenMPI's blocking calls spin).
void Barrier();
/// Rank 0's bytes on every rank.
void Broadcast(std::string& bytes);
/// Rank `root`'s bytes on every rank.
void Broadcast(std::string& bytes, int root);
/// Rank 0's error, or none, on every rank: runs `step` on rank 0 only; when it throws
/// aimc::Error, every rank throws CollectiveError with its message. For the steps of a
/// collective run that only the writer does (checking and creating result files).
void OnWriter(const std::function<void()>& step);
/// Every rank's error, or none, on every rank: runs `step` on every rank, then the ranks agree
/// whether it threw anywhere. If it did, every rank throws CollectiveError with the message of the
/// lowest rank that failed: as it is when every rank failed, else prefixed with that rank ("rank
/// 1 of 4: ..."). For the steps that every rank does alike (reading the same input files) where
/// one rank alone may fail (a file its node does not see), so that no rank goes on to wait for
/// one that stopped. Any collective call inside `step` must be reached by every rank. With one
/// rank: `step`, its error as it is.
void OnEveryRank(const std::function<void()>& step);
/// Element-wise sums over ranks, in place, on every rank (blocking: for short, frequent calls
/// such as gradients). The summation order is fixed for a fixed number of ranks.
void AllReduceSum(float* values, std::size_t count);
void AllReduceSum(double* values, std::size_t count);
void AllReduceSum(std::int64_t* values, std::size_t count);

/// How Distribute hands out work.
struct DistributeOptions {
  /// Relative cost of each item (optional): with more than one rank, items are handed out most
  /// expensive first, so that a long item does not start last (longest-processing-time order).
  std::vector<double> cost;
  /// Called on rank 0 for every finished item, in the order items finish, before the next item is
  /// handed to the rank that computed it: where results are written. Never concurrently.
  std::function<void(std::size_t item, const std::string& result)> on_done;
};

/// Computes items 0..n-1 over all ranks with dynamic load balancing: each rank takes the next
/// item when it finishes one. Rank 0 computes items too (a thread of it hands out the work and
/// collects results). `compute` runs on the rank that takes the item and must not communicate;
/// its result is any byte string. Returns every item's result on every rank. Collective: every
/// rank calls it with the same n and options.
///
/// When `compute` throws aimc::Error on any rank, no new item is started, the items already
/// running finish (and reach on_done), and every rank throws CollectiveError naming the item's
/// rank and the message. With one rank: a plain loop in item order (cost order is not needed).
std::vector<std::string> Distribute(std::size_t n,
                                    const std::function<std::string(std::size_t item)>& compute,
                                    const DistributeOptions& options = {});

}  // namespace aimc::cluster
