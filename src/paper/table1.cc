// Table I, the study's verdict part: the inference specifications derived from aimc's own
// networks (sigma_w from CNN 2 under weight noise, R_ON from CNN 1 with exact IR drop), and every
// technology judged by them; Fig. 21 from the same run of the cards' costs.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/common/cluster.h"
#include "aimc/common/error.h"
#include "aimc/common/resources.h"
#include "energy_part.h"
#include "verdict.h"

namespace aimc::paper {

void AddVerdictPart(report::Study& study, const StudyOptions& options) {
  study.Add({"verdict",
             "Table I: specifications derived from Figs. 14b and 16, and which cards meet them "
             "(configs/experiments/table1.toml)",
             [options](report::StudyContext& ctx) {
               const auto file = FindShippedFile("configs/experiments/table1.toml");
               Table1Options v;
               double tmr = 0.0;
               std::vector<Table1Card> entries;
               // Every rank reads the configuration and the cards; one that cannot fails the
               // step on every rank.
               cluster::OnEveryRank([&] {
                 Require(file.has_value(),
                         "configs/experiments/table1.toml not found (set AIMC_HOME to the aimc "
                         "folder)");
                 v = LoadTable1Options(*file);
                 tmr = std::isnan(v.tmr) ? SotMramCard().tmr : v.tmr;
                 entries = Table1Cards(v.cards);
               });
               nlohmann::json cards = nlohmann::json::array();
               for (const auto& e : entries) cards.push_back(e.card->ToJson());

               NoiseGridPlan p14 = Fig14bPlan(options);
               Require(std::count(p14.sigma_train.begin(), p14.sigma_train.end(), v.sigma_train) > 0,
                       "{}: sigma_train = {} is not one of the networks of Fig. 14b ({})",
                       file->string(), v.sigma_train, fmt::join(p14.sigma_train, ", "));
               Cnn2Grid cnn2 = Cnn2ForGrid(options, p14);
               const IrDropPlan p16 = Fig16Plan(options, tmr);
               Cnn1IrDrop cnn1 = Cnn1ForIrDrop(options, p16);
               // One run of the cards' costs serves Fig. 21 and Table I.
               std::optional<CardCosts> costs;
               const auto card_costs = [&]() -> const CardCosts& {
                 if (!costs) costs = RunCardCosts(options, v, entries, cnn1, cnn2);
                 return *costs;
               };
               const nlohmann::json energy_key = {
                   {"cnn1", StudyEnergyOptions(100).ToJson()},
                   {"cnn2", StudyEnergyOptions(20).ToJson()}};
               const nlohmann::json nets = {
                   {"cnn2", {{"data", cnn2.data.Key()}, {"models", cnn2.nets.Key()}}},
                   {"cnn1", {{"data", cnn1.data.Key()}, {"model", cnn1.net.file_hash},
                             {"test", cnn1.test.size()}}}};
               ctx.Produce("fig21_energy_per_card",
                           {{"verdict", v.ToJson()}, {"cards", cards}, {"networks", nets},
                            {"energy", energy_key}},
                           [&] { return Fig21(v, entries, card_costs()); });
               ctx.Produce("table1_verdict",
                           {{"energy", energy_key},
                            {"verdict", v.ToJson()},
                            {"tmr", tmr},
                            {"cards", cards},
                            {"cnn2", {{"plan", p14.ToJson()}, {"data", cnn2.data.Key()},
                                      {"models", cnn2.nets.Key()}}},
                            {"cnn1", {{"plan", p16.ToJson()}, {"data", cnn1.data.Key()},
                                      {"model", cnn1.net.file_hash}}}},
                           [&] {
                             const Table1Specs s =
                                 DeriveSpecs(v, cnn2, p14, cnn1, tmr, options.run.seed);
                             return RenderTable1(options, v, s, entries, tmr, card_costs());
                           });
             }});
}

}  // namespace aimc::paper
