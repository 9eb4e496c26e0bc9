// Crossbar IR-drop solver costs for R = C in {64, ..., 1024}: factorization, one solve against
// a reused factorization, the effective matrix M_eff for the first array of a shape (ordering
// and analysis included) and for a later one (the cached plan reused), with the peak memory it
// took, M_eff with and without the row admittance Y of the read power, and one MVM through M_eff
// (a dense GEMV per input vector). ngspice on the same netlists:
// bench/ngspice_vs_aimc.sh.

#include <fstream>
#include <string>

#include <benchmark/benchmark.h>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/rng.h"

namespace {

using aimc::circuit::Crossbar;
using aimc::circuit::CrossbarOptions;

// The conductance range, log-uniform, and the 22 nm layout's wire estimate.
Crossbar MakeArray(int n, std::uint64_t seed = 0) {
  aimc::Rng rng(seed == 0 ? static_cast<std::uint64_t>(n) : seed);
  const double lo = std::log(1.0 / 15e6);
  const double hi = std::log(1.0 / 50e3);
  Eigen::MatrixXd g(n, n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) g(i, j) = std::exp(lo + (hi - lo) * rng.Uniform());
  CrossbarOptions o;
  o.UseWires(aimc::circuit::Layout22nm());
  return Crossbar(std::move(g), o);
}

Eigen::VectorXd Inputs(int n) {
  aimc::Rng rng(99);
  Eigen::VectorXd v(n);
  for (int i = 0; i < n; ++i) v(i) = rng.Uniform();
  return v;
}

// Resident memory in MiB from /proc/self/status: "VmHWM:" the peak, "VmRSS:" now. ResetPeak()
// restarts the peak (Linux clear_refs = 5).
double StatusMiB(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == field) {
      double kib = 0;
      status >> kib;
      return kib / 1024.0;
    }
    std::getline(status, key);
  }
  return 0.0;
}
double PeakMiB() { return StatusMiB("VmHWM:"); }
double CurrentMiB() { return StatusMiB("VmRSS:"); }
void ResetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

// Every run reports the same counters (the CSV reporter needs one header for all); a counter
// that does not apply to a run is 0.
struct Counters {
  double factor_nnz = 0;
  double factor_flops = 0;
  double seconds = 0;      // one M_eff build, wall clock
  double order_s = 0;      // ordering (first array of a shape only)
  double analyze_s = 0;    // symbolic analysis (first array of a shape only)
  double assemble_s = 0;   // nodal matrix values
  double factorize_s = 0;  // numeric factorization or elimination
  double gflops = 0;       // of the numeric elimination
  double reused = 0;       // 1 when the plan came from the cache
  double work_mib = 0;     // memory of one numeric elimination
  double plan_mib = 0;     // memory of the cached plan
  double peak_mib = 0;     // peak resident memory of the process during the runs
  double start_mib = 0;    // resident memory before them (cached plans included)
};

void SetCounters(benchmark::State& state, const Counters& c) {
  state.counters["factor_nnz"] = c.factor_nnz;
  state.counters["factor_flops"] = c.factor_flops;
  state.counters["seconds"] = c.seconds;
  state.counters["order_s"] = c.order_s;
  state.counters["analyze_s"] = c.analyze_s;
  state.counters["assemble_s"] = c.assemble_s;
  state.counters["factorize_s"] = c.factorize_s;
  state.counters["GFLOP_per_s"] = c.gflops;
  state.counters["reused_plan"] = c.reused;
  state.counters["work_MiB"] = c.work_mib;
  state.counters["plan_MiB"] = c.plan_mib;
  state.counters["peak_MiB"] = c.peak_mib;
  state.counters["start_MiB"] = c.start_mib;
  state.counters["mvm_us"] = 0;  // one MVM through M_eff per input vector (BM_MvmThroughMeff)
}

Counters FromInfo(const aimc::circuit::EffectiveMatrixInfo& info) {
  Counters c;
  c.factor_nnz = static_cast<double>(info.factor_nonzeros);
  c.factor_flops = info.factor_flops;
  c.seconds = info.total_seconds;
  c.order_s = info.order_seconds;
  c.analyze_s = info.analyze_seconds;
  c.assemble_s = info.assemble_seconds;
  c.factorize_s = info.factorize_seconds;
  c.gflops = info.factorize_seconds > 0 ? info.factor_flops / info.factorize_seconds / 1e9 : 0;
  c.reused = info.reused_plan ? 1 : 0;
  c.work_mib = static_cast<double>(info.work_bytes) / (1 << 20);
  c.plan_mib = static_cast<double>(info.plan_bytes) / (1 << 20);
  return c;
}

void BM_Factorize(benchmark::State& state) {
  const Crossbar xbar = MakeArray(static_cast<int>(state.range(0)));
  std::int64_t factor_nnz = 0;
  for (auto _ : state) {
    aimc::circuit::DcSolver solver(xbar);
    factor_nnz = solver.summary().factor_nonzeros;
    benchmark::DoNotOptimize(factor_nnz);
  }
  Counters c;
  c.factor_nnz = static_cast<double>(factor_nnz);
  SetCounters(state, c);
}

void BM_Solve(benchmark::State& state) {
  const Crossbar xbar = MakeArray(static_cast<int>(state.range(0)));
  const aimc::circuit::DcSolver solver(xbar);
  const Eigen::VectorXd v = Inputs(xbar.rows());
  for (auto _ : state) benchmark::DoNotOptimize(solver.ColumnCurrents(v).data());
  Counters c;
  c.factor_nnz = static_cast<double>(solver.summary().factor_nonzeros);
  SetCounters(state, c);
}

// Builds `xbar`'s M_eff in every iteration and reports its info and the memory it took.
void MeasureEffectiveMatrix(benchmark::State& state, const Crossbar& xbar) {
  aimc::circuit::EffectiveMatrixInfo info;
  const double start = CurrentMiB();
  ResetPeak();
  for (auto _ : state) {
    Eigen::MatrixXd m = aimc::circuit::EffectiveMatrix(xbar, &info);
    benchmark::DoNotOptimize(m.data());
  }
  Counters c = FromInfo(info);
  c.peak_mib = PeakMiB();
  c.start_mib = start;
  SetCounters(state, c);
}

// M_eff of the first array of its shape: the plan cache is emptied, so the ordering and the
// symbolic analysis are part of the cost. One iteration (a second would reuse the plan).
void BM_EffectiveMatrixFirst(benchmark::State& state) {
  const Crossbar xbar = MakeArray(static_cast<int>(state.range(0)));
  aimc::circuit::ClearEffectiveMatrixPlans();
  MeasureEffectiveMatrix(state, xbar);
}

// M_eff of a later array of the same shape (other conductances): the cached plan is reused and
// only the values are assembled and eliminated.
void BM_EffectiveMatrixReused(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  aimc::circuit::EffectiveMatrix(MakeArray(n));
  MeasureEffectiveMatrix(state, MakeArray(n, 1000 + static_cast<std::uint64_t>(n)));
}

// M_eff of a later array of a shape (plan reused), without (second argument 0) and with
// (1) the row admittance Y of the read power from the same elimination: what Y costs on top.
void BM_PortMatricesReused(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const bool with_y = state.range(1) != 0;
  aimc::circuit::EffectiveMatrix(MakeArray(n));
  const Crossbar xbar = MakeArray(n, 1000 + static_cast<std::uint64_t>(n));
  aimc::circuit::EffectiveMatrixInfo info;
  const double start = CurrentMiB();
  ResetPeak();
  for (auto _ : state) {
    if (with_y) {
      aimc::circuit::PortMatrices p = aimc::circuit::EffectivePortMatrices(xbar, &info);
      benchmark::DoNotOptimize(p.row_admittance.data());
    } else {
      Eigen::MatrixXd m = aimc::circuit::EffectiveMatrix(xbar, &info);
      benchmark::DoNotOptimize(m.data());
    }
  }
  Counters c = FromInfo(info);
  c.peak_mib = PeakMiB();
  c.start_mib = start;
  SetCounters(state, c);
}

// One MVM through an array's M_eff: I = M_eff^T v, a dense GEMV per input vector.
void BM_MvmThroughMeff(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const Eigen::MatrixXd m = aimc::circuit::EffectiveMatrix(MakeArray(n));
  const Eigen::VectorXd v = Inputs(n);
  Eigen::VectorXd out(n);
  for (auto _ : state) {
    out.noalias() = m.transpose() * v;
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * std::int64_t(n) * n * 8);
  state.SetItemsProcessed(state.iterations());  // input vectors
  SetCounters(state, Counters{});
  // Microseconds per input vector: elapsed time over iterations x 1e-6, as a rate inverted.
  state.counters["mvm_us"] = benchmark::Counter(static_cast<double>(state.iterations()) * 1e-6,
                                                benchmark::Counter::kIsRate |
                                                    benchmark::Counter::kInvert);
}

BENCHMARK(BM_Factorize)->RangeMultiplier(2)->Range(64, 1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Solve)->RangeMultiplier(2)->Range(64, 1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EffectiveMatrixFirst)
    ->Arg(128)
    ->Arg(512)
    ->Arg(1024)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EffectiveMatrixReused)->Arg(128)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PortMatricesReused)
    ->ArgNames({"n", "with_y"})
    ->Args({256, 0})
    ->Args({256, 1})
    ->Args({1024, 0})
    ->Args({1024, 1})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MvmThroughMeff)->Arg(128)->Arg(512)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
