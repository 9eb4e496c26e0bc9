// Run with one rank (plain) and under mpirun with 2 and 3 ranks (see CMakeLists.txt): every
// expectation holds for any number of ranks.
#include "aimc/common/cluster.h"

#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace aimc::cluster {
namespace {

// Each item's result names the item and the rank that computed it.
std::string Compute(std::size_t item) {
  std::this_thread::sleep_for(std::chrono::milliseconds(item % 3 == 0 ? 30 : 5));
  return std::to_string(item) + "@" + std::to_string(Rank());
}

TEST(Cluster, DistributeComputesEveryItemOnceAndReturnsAllResultsEverywhere) {
  constexpr std::size_t kItems = 40;
  std::multiset<std::size_t> written;
  DistributeOptions options;
  options.on_done = [&](std::size_t item, const std::string& result) {
    EXPECT_TRUE(IsWriter());
    EXPECT_EQ(result.substr(0, result.find('@')), std::to_string(item));
    written.insert(item);
  };
  for (std::size_t i = 0; i < kItems; ++i) options.cost.push_back(static_cast<double>(i % 7));
  const std::vector<std::string> results = Distribute(kItems, Compute, options);
  ASSERT_EQ(results.size(), kItems);
  std::set<int> ranks;
  for (std::size_t i = 0; i < kItems; ++i) {
    const std::string& r = results[i];
    EXPECT_EQ(r.substr(0, r.find('@')), std::to_string(i));
    ranks.insert(std::stoi(r.substr(r.find('@') + 1)));
  }
  if (IsWriter()) {
    EXPECT_EQ(written.size(), kItems);
    for (std::size_t i = 0; i < kItems; ++i) EXPECT_EQ(written.count(i), 1u) << "item " << i;
  } else {
    EXPECT_TRUE(written.empty());
  }
  // Dynamic balancing: 40 items of 5-30 ms, so every rank, the writer included, takes some.
  EXPECT_EQ(static_cast<int>(ranks.size()), Size());
}

TEST(Cluster, AnErrorInOneItemStopsTheRunOnEveryRankAndNamesIt) {
  std::set<std::size_t> written;
  DistributeOptions options;
  options.on_done = [&](std::size_t item, const std::string&) { written.insert(item); };
  auto compute = [](std::size_t item) -> std::string {
    if (item == 7) throw Error("the circuit of item 7 is unsolvable");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return "fine";
  };
  try {
    Distribute(30, compute, options);
    FAIL() << "no error";
  } catch (const CollectiveError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("the circuit of item 7 is unsolvable"), std::string::npos) << what;
    if (Size() > 1) {
      EXPECT_NE(what.find("work item 7"), std::string::npos) << what;
    }
  } catch (const Error& e) {
    // One rank: the item's own error, unchanged.
    EXPECT_EQ(Size(), 1);
    EXPECT_STREQ(e.what(), "the circuit of item 7 is unsolvable");
  }
  EXPECT_FALSE(written.count(7));
  // The collective is usable again afterwards.
  EXPECT_EQ(Distribute(3, [](std::size_t i) { return std::to_string(i); }).at(2), "2");
}

TEST(Cluster, BroadcastAndSumsReachEveryRank) {
  std::string bytes = IsWriter() ? std::string(100000, 'x') + "end" : "";
  Broadcast(bytes);
  EXPECT_EQ(bytes.size(), 100003u);
  EXPECT_EQ(bytes.substr(100000), "end");

  std::vector<double> d = {1.0 * Rank(), 2.0};
  AllReduceSum(d.data(), d.size());
  EXPECT_EQ(d[0], Size() * (Size() - 1) / 2.0);
  EXPECT_EQ(d[1], 2.0 * Size());
  std::vector<float> f = {0.5f};
  AllReduceSum(f.data(), f.size());
  EXPECT_EQ(f[0], 0.5f * static_cast<float>(Size()));
  std::int64_t n = Rank() + 1;
  AllReduceSum(&n, 1);
  EXPECT_EQ(n, static_cast<std::int64_t>(Size()) * (Size() + 1) / 2);
  Barrier();
}

TEST(Cluster, TheWritersErrorReachesEveryRank) {
  int ran = 0;
  OnWriter([&] { ++ran; });
  EXPECT_EQ(ran, IsWriter() ? 1 : 0);
  try {
    OnWriter([] { throw Error("results/x.csv was made by another experiment"); });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "results/x.csv was made by another experiment");
  }
}

TEST(Cluster, AnErrorOfAnyRankReachesEveryRank) {
  int ran = 0;
  OnEveryRank([&] { ++ran; });
  EXPECT_EQ(ran, 1);
  // Every rank fails alike: the message as it is.
  try {
    OnEveryRank([] { throw Error("configs/x.toml: no such file"); });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "configs/x.toml: no such file");
    EXPECT_EQ(dynamic_cast<const CollectiveError*>(&e) != nullptr, Size() > 1);
  }
  // The last rank alone fails: every rank hears it, with the rank that failed.
  try {
    OnEveryRank([] {
      if (Rank() == Size() - 1) throw Error(fmt::format("models/m{}.pt: no such file", Rank()));
    });
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string expected =
        Size() > 1 ? fmt::format("rank {} of {}: models/m{}.pt: no such file", Size() - 1, Size(),
                                 Size() - 1)
                   : "models/m0.pt: no such file";
    EXPECT_EQ(e.what(), expected);
  }
}

// Rank 0 alone, the others together (with one rank: rank 0 alone): within each group the
// collectives are the group's, and afterwards the job's again.
TEST(Cluster, GroupsOfRanksWorkApartAndShareTheirResultsAfterwards) {
  const int world = Size();
  const int group = Rank() == 0 ? 0 : 1;
  std::string made;
  {
    Split split(group);
    const int members = group == 0 ? 1 : world - 1;
    EXPECT_EQ(Size(), members);
    EXPECT_EQ(WorldSize(), world);
    EXPECT_EQ(Rank(), group == 0 ? 0 : WorldRank() - 1);
    EXPECT_EQ(IsWriter(), WorldRank() <= 1);
    std::int64_t n = 1;
    AllReduceSum(&n, 1);
    EXPECT_EQ(n, members);
    // Distribute hands out within the group: its ranks only compute the items.
    const auto results = Distribute(12, [&](std::size_t i) {
      return fmt::format("{}:{}", i, WorldRank());
    });
    for (const std::string& r : results) {
      const int by = std::stoi(r.substr(r.find(':') + 1));
      EXPECT_EQ(by == 0 ? 0 : 1, group) << r;
    }
    // A group's error is its own: the other group goes on.
    if (group == 1) {
      try {
        OnEveryRank([] {
          if (Rank() == Size() - 1) throw Error("unsolvable");
        });
        FAIL() << "no error";
      } catch (const Error& e) {
        const std::string what = e.what();
        if (members > 1) {
          EXPECT_EQ(what, fmt::format("rank {} of {}: unsolvable", world - 1, world));
        }
      }
    }
    std::string bytes = IsWriter() ? fmt::format("group {}", group) : "";
    Broadcast(bytes);
    EXPECT_EQ(bytes, fmt::format("group {}", group));
    if (IsWriter()) made = bytes;
    {
      Split inner(Rank() % 2);  // nested: the group's ranks in two
      std::int64_t m = 1;
      AllReduceSum(&m, 1);
      EXPECT_EQ(m, (members + 1 - Rank() % 2) / 2);
    }
    EXPECT_EQ(Size(), members);
  }
  EXPECT_EQ(Size(), world);
  EXPECT_EQ(Rank(), WorldRank());
  // What the last group made, from its first rank, on every rank.
  std::string last = world > 1 ? (WorldRank() == 1 ? made : "") : made;
  Broadcast(last, world > 1 ? 1 : 0);
  EXPECT_EQ(last, world > 1 ? "group 1" : "group 0");
  EXPECT_THROW(Split(-1), Error);
  EXPECT_THROW(Broadcast(last, world), Error);
}

TEST(Cluster, ReportsWhereItRuns) {
  EXPECT_GE(Rank(), 0);
  EXPECT_LT(Rank(), Size());
  EXPECT_EQ(Where().empty(), Size() == 1);
  // Under mpirun the launcher's count of ranks is ours.
  if (const char* n = std::getenv("OMPI_COMM_WORLD_SIZE")) {
    EXPECT_EQ(Size(), std::atoi(n));
  }
}

}  // namespace
}  // namespace aimc::cluster
