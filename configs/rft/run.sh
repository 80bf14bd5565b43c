#!/usr/bin/env bash
# The RFT experiment, end to end on the embedded model (about 45 minutes on 2 CPU cores):
#   bash configs/rft/run.sh
# 1. score the untrained model on the held-out set; 2. sample the train set with it and keep correct, short
# traces; 3. train it on them, and a control on every draw of the same run for as many steps; 4. score both;
# 5. print the table with paired differences. Each step resumes: run it again after an interruption.
set -euo pipefail
cd "$(dirname "$0")/../.."
factory=(.venv/bin/factory)
rft=configs/rft
step() { echo "== $(date +%H:%M:%S) $*" >&2; }

step "1/6 untrained model on the held-out set"
"${factory[@]}" eval $rft/eval.yaml >/dev/null
step "2/6 teacher samples on the train set"
"${factory[@]}" run $rft/teacher.yaml
step "3/6 student on the kept traces"
[ -f runs/rft/student/factory-sft.json ] || "${factory[@]}" sft $rft/sft.yaml
steps=$(.venv/bin/python -c "import json; print(json.load(open('runs/rft/student/factory-sft.json'))['steps'])")
step "4/6 control on every draw of the run, $steps steps"
[ -f runs/rft/control/factory-sft.json ] || "${factory[@]}" sft $rft/sft.yaml --set "configs=[train, rejected]" \
  --set output_dir=runs/rft/control --set training.max_steps="$steps"
step "5/6 scoring the student and the control"
for name in student control; do
  "${factory[@]}" eval $rft/eval.yaml --set model.model=runs/rft/$name --set eval_dir=runs/rft/eval-$name \
    --set eval.label=$name >/dev/null
done
step "6/6 results"
"${factory[@]}" compare runs/rft/eval-base runs/rft/eval-student runs/rft/eval-control
