#include "aimc/common/cluster.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>

#include <fmt/format.h>

#ifdef AIMC_WITH_MPI
#include <mpi.h>
#endif

namespace aimc::cluster {

namespace {

// The current ranks (a Split's group, else the job's) and the job's.
int g_rank = 0;
int g_size = 1;
int g_world_rank = 0;
int g_world_size = 1;
// The job's rank of each current rank (empty: the job's ranks themselves), for messages.
std::vector<int> g_members;
[[maybe_unused]] bool g_started = false;  // MPI_Init done by Session

// A result list as one byte string: per item, its length (8 bytes) then its bytes.
[[maybe_unused]] std::string Pack(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    const std::uint64_t n = s.size();
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    out += s;
  }
  return out;
}

[[maybe_unused]] std::vector<std::string> Unpack(const std::string& bytes, std::size_t n) {
  std::vector<std::string> items(n);
  std::size_t at = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t len = 0;
    std::memcpy(&len, bytes.data() + at, sizeof len);
    at += sizeof len;
    items[i] = bytes.substr(at, len);
    at += len;
  }
  return items;
}

// The item order of a run over several ranks: most expensive first, ties in item order.
[[maybe_unused]] std::vector<std::size_t> HandOutOrder(std::size_t n, const std::vector<double>& cost) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (cost.size() == n)
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return cost[a] > cost[b]; });
  return order;
}

std::vector<std::string> RunHere(std::size_t n,
                                 const std::function<std::string(std::size_t)>& compute,
                                 const DistributeOptions& options) {
  std::vector<std::string> results(n);
  for (std::size_t i = 0; i < n; ++i) {
    results[i] = compute(i);
    if (options.on_done) options.on_done(i, results[i]);
  }
  return results;
}

// The job's rank of current rank `rank`: messages name the ranks mpirun numbered.
[[maybe_unused]] int WorldOf(int rank) {
  return g_members.empty() ? rank : g_members.at(static_cast<std::size_t>(rank));
}

#ifdef AIMC_WITH_MPI

// The current ranks' communicator (a Split's group, else the job's).
MPI_Comm g_comm = MPI_COMM_WORLD;

constexpr int kTagResult = 1;  // rank -> 0: item (int64, -1: none yet) and its result
constexpr int kTagError = 2;   // rank -> 0: item and the error message
constexpr int kTagWork = 3;    // 0 -> rank: the next item (int64, -1: stop)

void Check(int status, const char* call) {
  if (status != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(status, text, &len);
    throw Error(fmt::format("MPI: {} failed: {}", call, std::string(text, len)));
  }
}

// Waits for a request, sleeping between tests: OpenMPI's blocking waits spin on a core, which on
// a node with as many ranks as cores takes it from a rank still computing.
void WaitQuietly(MPI_Request* request) {
  auto pause = std::chrono::microseconds(20);
  for (;;) {
    int done = 0;
    Check(MPI_Test(request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(2000));
  }
}

std::string Message(std::int64_t item, const std::string& payload) {
  std::string m(sizeof item, '\0');
  std::memcpy(m.data(), &item, sizeof item);
  return m + payload;
}

void SendBytes(const std::string& bytes, int to, int tag) {
  Require(bytes.size() <= static_cast<std::size_t>(INT_MAX),
          "a work item's result of {} bytes is larger than one MPI message holds", bytes.size());
  MPI_Request request;
  Check(MPI_Isend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, to, tag, g_comm,
                  &request),
        "MPI_Isend");
  WaitQuietly(&request);
}

std::int64_t ReceiveItem() {
  std::int64_t item = -1;
  MPI_Request request;
  Check(MPI_Irecv(&item, 1, MPI_INT64_T, 0, kTagWork, g_comm, &request), "MPI_Irecv");
  WaitQuietly(&request);
  return item;
}

// Rank 0's side of Distribute: its main thread computes items like any rank while a second
// thread, the only one calling MPI meanwhile, answers the other ranks.
std::vector<std::string> Coordinate(std::size_t n,
                                    const std::function<std::string(std::size_t)>& compute,
                                    const DistributeOptions& options) {
  const std::vector<std::size_t> order = HandOutOrder(n, options.cost);
  std::mutex mutex;
  std::size_t next = 0;
  std::string failure;
  std::vector<std::string> results(n);

  auto take = [&]() -> std::int64_t {
    std::lock_guard lock(mutex);
    if (!failure.empty() || next == n) return -1;
    return static_cast<std::int64_t>(order[next++]);
  };
  auto fail = [&](int rank, std::int64_t item, const std::string& what) {
    std::lock_guard lock(mutex);
    if (failure.empty())
      failure = g_world_size > 1 ? fmt::format("rank {} of {}, work item {}: {}", WorldOf(rank),
                                                 g_world_size, item, what)
                                 : what;
  };
  auto finish = [&](int rank, std::int64_t item, std::string result) {
    std::lock_guard lock(mutex);
    results[static_cast<std::size_t>(item)] = std::move(result);
    try {
      if (options.on_done)
        options.on_done(static_cast<std::size_t>(item), results[static_cast<std::size_t>(item)]);
    } catch (const std::exception& e) {
      if (failure.empty())
        failure = fmt::format("rank {} of {}, writing work item {}: {}", WorldOf(rank),
                              g_world_size, item, e.what());
    }
  };

  std::string mpi_failure;
  std::thread coordinator([&] {
    try {
      int working = g_size - 1;
      // Idle polls back off to 2 ms: this thread shares its rank's core with the computing one
      // (mpirun binds a rank to a core), and every wake-up is taken from it. Units take tens of
      // milliseconds or more, so 2 ms of latency per hand-out costs little.
      auto pause = std::chrono::microseconds(20);
      while (working > 0) {
        int flag = 0;
        MPI_Status status;
        Check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, g_comm, &flag, &status),
              "MPI_Iprobe");
        if (!flag) {
          std::this_thread::sleep_for(pause);
          pause = std::min(pause * 2, std::chrono::microseconds(2000));
          continue;
        }
        pause = std::chrono::microseconds(20);
        int count = 0;
        Check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
        std::string bytes(static_cast<std::size_t>(count), '\0');
        Check(MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG,
                       g_comm, MPI_STATUS_IGNORE),
              "MPI_Recv");
        std::int64_t item = -1;
        std::memcpy(&item, bytes.data(), sizeof item);
        if (status.MPI_TAG == kTagError) {
          fail(status.MPI_SOURCE, item, bytes.substr(sizeof item));
        } else if (item >= 0) {
          finish(status.MPI_SOURCE, item, bytes.substr(sizeof item));
        }
        const std::int64_t give = take();
        Check(MPI_Send(&give, 1, MPI_INT64_T, status.MPI_SOURCE, kTagWork, g_comm),
              "MPI_Send");
        if (give < 0) --working;
      }
    } catch (const std::exception& e) {
      mpi_failure = e.what();
    }
  });
  for (std::int64_t item = take(); item >= 0; item = take()) {
    std::string result;
    try {
      result = compute(static_cast<std::size_t>(item));
    } catch (const std::exception& e) {
      fail(0, item, e.what());
      break;
    }
    finish(0, item, std::move(result));
  }
  coordinator.join();
  if (!mpi_failure.empty()) {
    std::fprintf(stderr, "aimc: error (rank 0): %s\n", mpi_failure.c_str());
    AbortJob(4);
  }
  std::string outcome = failure.empty() ? "ok" + Pack(results) : "no" + failure;
  Broadcast(outcome);
  if (!failure.empty()) throw CollectiveError(failure);
  return results;
}

std::vector<std::string> Work(std::size_t n,
                              const std::function<std::string(std::size_t)>& compute) {
  std::string message = Message(-1, "");
  int tag = kTagResult;
  for (;;) {
    SendBytes(message, 0, tag);
    const std::int64_t item = ReceiveItem();
    if (item < 0) break;
    try {
      message = Message(item, compute(static_cast<std::size_t>(item)));
      tag = kTagResult;
    } catch (const std::exception& e) {
      message = Message(item, e.what());
      tag = kTagError;
    }
  }
  std::string outcome;
  Broadcast(outcome);
  if (outcome.rfind("no", 0) == 0) throw CollectiveError(outcome.substr(2));
  return Unpack(outcome.substr(2), n);
}

#endif  // AIMC_WITH_MPI

}  // namespace

Session::Session([[maybe_unused]] int* argc, [[maybe_unused]] char*** argv) {
#ifdef AIMC_WITH_MPI
  const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") ||
                        std::getenv("PMI_RANK") || std::getenv("PMI_SIZE");
  if (!launched) return;
  int provided = 0;
  // Serialized: Distribute's coordinating thread calls MPI while the main thread computes.
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
    std::fprintf(stderr, "aimc: error: MPI could not be started (MPI_Init_thread failed)\n");
    std::exit(4);
  }
  g_started = true;
  if (provided < MPI_THREAD_SERIALIZED) {
    std::fprintf(stderr,
                 "aimc: error: this MPI library gives thread level %d; aimc needs "
                 "MPI_THREAD_SERIALIZED (%d)\n",
                 provided, MPI_THREAD_SERIALIZED);
    MPI_Abort(MPI_COMM_WORLD, 4);
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  g_world_rank = g_rank;
  g_world_size = g_size;
#endif
}

Session::~Session() {
#ifdef AIMC_WITH_MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (g_started && !finalized) MPI_Finalize();
#endif
}

bool Built() {
#ifdef AIMC_WITH_MPI
  return true;
#else
  return false;
#endif
}

int Rank() { return g_rank; }
int Size() { return g_size; }
int WorldRank() { return g_world_rank; }
int WorldSize() { return g_world_size; }

std::string Where() {
  return g_world_size > 1 ? fmt::format("rank {} of {}", g_world_rank, g_world_size) : "";
}

Split::Split([[maybe_unused]] int group)
    : rank_(g_rank), size_(g_size), members_(g_members), comm_(nullptr) {
  Require(group >= 0, "a group of ranks is numbered from 0, got {}", group);
#ifdef AIMC_WITH_MPI
  if (g_size == 1) return;  // one rank: its own group already
  MPI_Comm comm = MPI_COMM_NULL;
  Check(MPI_Comm_split(g_comm, group, g_rank, &comm), "MPI_Comm_split");
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::vector<int> members(static_cast<std::size_t>(size));
  const int world = g_world_rank;
  Check(MPI_Allgather(&world, 1, MPI_INT, members.data(), 1, MPI_INT, comm), "MPI_Allgather");
  comm_ = new MPI_Comm(g_comm);
  g_comm = comm;
  g_rank = rank;
  g_size = size;
  g_members = std::move(members);
#endif
}

Split::~Split() {
#ifdef AIMC_WITH_MPI
  auto* before = static_cast<MPI_Comm*>(comm_);
  if (before != nullptr) {
    MPI_Comm_free(&g_comm);
    g_comm = *before;
    g_rank = rank_;
    g_size = size_;
    g_members = members_;
  }
  delete before;
#endif
}

void AbortJob(int code) {
  std::fflush(stderr);
#ifdef AIMC_WITH_MPI
  if (g_started && g_world_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  if (g_started) MPI_Finalize();
#endif
  std::exit(code);
}

void Barrier() {
#ifdef AIMC_WITH_MPI
  if (g_size > 1) {
    MPI_Request request;
    Check(MPI_Ibarrier(g_comm, &request), "MPI_Ibarrier");
    WaitQuietly(&request);
  }
#endif
}

namespace {

// `root`'s bytes on every rank.
void BroadcastFrom([[maybe_unused]] std::string& bytes, [[maybe_unused]] int root) {
#ifdef AIMC_WITH_MPI
  if (g_size == 1) return;
  std::uint64_t size = bytes.size();
  MPI_Request request;
  Check(MPI_Ibcast(&size, 1, MPI_UINT64_T, root, g_comm, &request), "MPI_Ibcast");
  WaitQuietly(&request);
  bytes.resize(size);
  for (std::uint64_t at = 0; at < size;) {
    const int chunk = static_cast<int>(std::min<std::uint64_t>(size - at, INT_MAX));
    Check(MPI_Ibcast(bytes.data() + at, chunk, MPI_BYTE, root, g_comm, &request),
          "MPI_Ibcast");
    WaitQuietly(&request);
    at += static_cast<std::uint64_t>(chunk);
  }
#endif
}

}  // namespace

void Broadcast(std::string& bytes) { BroadcastFrom(bytes, 0); }

void Broadcast(std::string& bytes, int root) {
  Require(root >= 0 && root < g_size, "Broadcast from rank {} of {} ranks", root, g_size);
  BroadcastFrom(bytes, root);
}

void OnEveryRank(const std::function<void()>& step) {
  if (g_size == 1) {
    step();  // one rank: the error as it is
    return;
  }
  std::string failure;
  try {
    step();
  } catch (const std::exception& e) {
    failure = e.what();
    if (failure.empty()) failure = "unknown error";
  }
#ifdef AIMC_WITH_MPI
  // The lowest rank that failed (g_size: none), and how many failed.
  int first = failure.empty() ? g_size : g_rank;
  int failed = failure.empty() ? 0 : 1;
  MPI_Request request;
  Check(MPI_Iallreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, g_comm, &request),
        "MPI_Iallreduce");
  WaitQuietly(&request);
  Check(MPI_Iallreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_SUM, g_comm, &request),
        "MPI_Iallreduce");
  WaitQuietly(&request);
  if (first == g_size) return;
  BroadcastFrom(failure, first);
  if (failed == g_size) throw CollectiveError(failure);
  throw CollectiveError(fmt::format("rank {} of {}: {}", WorldOf(first), g_world_size, failure));
#endif
}

void OnWriter(const std::function<void()>& step) {
  std::string failure;
  if (IsWriter()) {
    if (g_size == 1) {
      step();  // one rank: the error as it is
      return;
    }
    try {
      step();
    } catch (const std::exception& e) {
      failure = e.what();
      if (failure.empty()) failure = "unknown error";
    }
  }
  Broadcast(failure);
  if (!failure.empty()) throw CollectiveError(failure);
}

namespace {
#ifdef AIMC_WITH_MPI
template <typename T>
void SumInPlace(T* values, std::size_t count, MPI_Datatype type) {
  if (g_size == 1) return;
  for (std::size_t at = 0; at < count;) {
    const int chunk = static_cast<int>(std::min<std::size_t>(count - at, INT_MAX));
    Check(MPI_Allreduce(MPI_IN_PLACE, values + at, chunk, type, MPI_SUM, g_comm),
          "MPI_Allreduce");
    at += static_cast<std::size_t>(chunk);
  }
}
#endif
}  // namespace

void AllReduceSum([[maybe_unused]] float* values, [[maybe_unused]] std::size_t count) {
#ifdef AIMC_WITH_MPI
  SumInPlace(values, count, MPI_FLOAT);
#endif
}
void AllReduceSum([[maybe_unused]] double* values, [[maybe_unused]] std::size_t count) {
#ifdef AIMC_WITH_MPI
  SumInPlace(values, count, MPI_DOUBLE);
#endif
}
void AllReduceSum([[maybe_unused]] std::int64_t* values, [[maybe_unused]] std::size_t count) {
#ifdef AIMC_WITH_MPI
  SumInPlace(values, count, MPI_INT64_T);
#endif
}

std::vector<std::string> Distribute(std::size_t n,
                                    const std::function<std::string(std::size_t)>& compute,
                                    const DistributeOptions& options) {
  Require(options.cost.empty() || options.cost.size() == n,
          "Distribute: {} costs for {} work items", options.cost.size(), n);
#ifdef AIMC_WITH_MPI
  if (g_size > 1) return g_rank == 0 ? Coordinate(n, compute, options) : Work(n, compute);
#endif
  return RunHere(n, compute, options);
}

}  // namespace aimc::cluster
