#!/usr/bin/env bash
# The accelerator figures of issue 4 (Podracer at scale) in one go, on a machine with a GPU (or TPU):
#
#   bash benchmarks/accelerator.sh [gpu|tpu] [OUT]        # not run on a GPU yet; budget ~10 min
#   QUICK=1 bash benchmarks/accelerator.sh cpu /tmp/acc    # the same steps, tiny, to check the script
#
# Writes OUT/ (default bench-<backend>/): device.txt; catch-*/, bwlc/, jump/ (every agent, Sebulba and the
# Trainer's models train unchanged on the platform); anakin.json (`rlk bench` PPO rows: CartPole and
# MinAtar Breakout with NUM_ENVS envs beside the env alone and the single-file peer); breakout-1e7/
# (MinAtar Breakout, 1e7 env steps through `rlk train`: summary.json has wall_s and final_return);
# sebulba.json (Sebulba V-trace on Atari, inference and learner on the accelerator, beside ale-py's
# vector env alone); muzero_search.txt.
# Targets (issue 4): PPO CartPole >= 10M env steps/s; MinAtar Breakout 1e7 steps in under a minute;
# Sebulba >= 0.7x of the env alone.
set -euo pipefail
backend=${1:-gpu}
out=${2:-bench-$backend}
rlk=${RLK:-rlk}
py=${PYTHON:-python}
if [ -n "${QUICK:-}" ]; then  # a smoke test of this script: tiny budgets
  num_envs=${NUM_ENVS:-32}; log_every=${LOG_EVERY:-4096}; breakout_steps=${BREAKOUT_STEPS:-20000}
  catch_steps=2000; sebulba=""; devices=${DEVICES:-1}
else
  num_envs=${NUM_ENVS:-8192}; log_every=${LOG_EVERY:-2097152}; breakout_steps=${BREAKOUT_STEPS:-10000000}
  catch_steps=20000; sebulba=${SEBULBA:-atari-breakout}; devices=${DEVICES:-}  # default: 1 and all
fi
mkdir -p "$out"
{ date -u; nvidia-smi -L 2>/dev/null || true; "$py" -c "import jax; print(jax.__version__, jax.devices('$backend'))"; } \
  > "$out/device.txt" 2>&1
cat "$out/device.txt"

step() { printf '\n== %s\n' "$*" >&2; }

step "1. every agent and model trains on $backend, unchanged (Catch, $catch_steps steps each; the Trainer's models)"
show() {  # a run's summary: the figures that a model run or an agent run has
  "$py" -c "import json, sys; s = json.load(open(sys.argv[1] + '/summary.json')); print(sys.argv[1], {k: s[k] for k in ('backend', 'arch', 'final_return', 'env_steps_per_s', 'steps', 'wall_s') if k in s})" "$1"
}
for agent in ppo vtrace pg_baseline cca muesli muzero; do
  "$rlk" train --backend "$backend" --agent "$agent" --env catch --steps "$catch_steps" -o eval_episodes=8 \
    --run-dir "$out/catch-$agent" --quiet > /dev/null
  show "$out/catch-$agent"
done
"$rlk" train --backend "$backend" --arch sebulba --env catch --steps "$catch_steps" -o eval_episodes=8 \
  --run-dir "$out/catch-sebulba" --quiet > /dev/null
show "$out/catch-sebulba"
"$rlk" train --backend "$backend" --model bwlc_codec --dataset digits --steps 100 --run-dir "$out/bwlc" --quiet > /dev/null
show "$out/bwlc"
"$rlk" train --backend "$backend" --model jumpy_video --dataset moving-shapes --steps 20 --run-dir "$out/jump" --quiet > /dev/null
show "$out/jump"

step "2. Anakin PPO throughput, $num_envs envs (rlk bench --backend $backend)"
"$rlk" bench --backend "$backend" --envs CartPole-v1,minatar-breakout --seeds 1 --num-envs "$num_envs" --devices "$devices" \
  --log-every-steps "$log_every" --json > "$out/anakin.json"
"$py" -c "
import json
for r in json.load(open('$out/anakin.json')):
    print(r['name'], r['machine'].get('accelerator'), f\"rlk {r['steps_per_s']:,.0f} steps/s, ceiling {r['ceiling_steps_per_s']:,.0f}, peer {r['peer_steps_per_s']:,.0f}, rlk/peer {r['peer_ratio']:.2f}x\")"

step "3. MinAtar Breakout, $breakout_steps env steps through rlk train"
"$rlk" train --backend "$backend" --env minatar-breakout --steps "$breakout_steps" -o agent.num_envs=1024 \
  -o eval_episodes=32 --run-dir "$out/breakout-1e7" --quiet > /dev/null
"$py" -c "import json; s = json.load(open('$out/breakout-1e7/summary.json')); print('breakout', s['env_steps'], 'steps in', round(s['wall_s'], 1), 's (compile', round(s['compile_s'], 1), 's), final_return', s['final_return'])"

if [ -n "$sebulba" ]; then
  step "4. Sebulba V-trace on $sebulba, inference and learner on $backend, beside the env alone"
  "$rlk" bench --backend "$backend" --envs '' --sebulba "$sebulba" --json > "$out/sebulba.json"
  "$py" -c "
import json
for r in json.load(open('$out/sebulba.json')):
    print(r['name'], f\"{r['steps_per_s']:,.0f} vs env alone {r['ceiling_steps_per_s']:,.0f} steps/s: {r['ratio']:.2f}x\")"
fi

step "5. MuZero search simulations/s (the acting step beside bare mctx)"
"$py" benchmarks/muzero_search.py --repeats "${SEARCH_REPEATS:-20}" | tee "$out/muzero_search.txt"
