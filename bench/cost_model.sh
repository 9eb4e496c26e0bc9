#!/usr/bin/env bash
# The cost model of docs/cluster.md (bench/cost_model.py: its inputs, assumptions and options).
#   bash bench/cost_model.sh [units.csv] [cores_per_node] [startup_s] [--detail] > table.md
exec python3 "$(dirname "$0")/cost_model.py" "$@"
