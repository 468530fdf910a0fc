#!/usr/bin/env bash
# The accelerator figures of issue 4 (Podracer at scale) in one go, on a machine with a GPU (or TPU):
#
#   bash benchmarks/accelerator.sh [gpu|tpu] [OUT]        # ~6-8 min on one H100 after installing
#   QUICK=1 bash benchmarks/accelerator.sh cpu /tmp/acc    # the same steps, tiny, to check the script
#
# Writes OUT/ (default bench-<backend>/): device.txt, catch-*/ (every agent family trains unchanged on
# the platform), anakin.json (`rlk bench` PPO rows: CartPole and MinAtar Breakout with NUM_ENVS envs beside
# the env alone and the single-file peer), breakout-1e7/ (MinAtar Breakout, 1e7 env steps through
# `rlk train`: summary.json has wall_s and final_return), sebulba.json (Sebulba V-trace on Atari with
# inference and the learner on the accelerator, beside ale-py's vector env alone), muzero_search.txt.
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

step "1. every agent family trains on $backend, unchanged (Catch, $catch_steps steps each)"
for agent in ppo vtrace muesli muzero; do
  "$rlk" train --backend "$backend" --agent "$agent" --env catch --steps "$catch_steps" -o eval_episodes=8 \
    --run-dir "$out/catch-$agent" --quiet > /dev/null
  "$py" -c "import json; s = json.load(open('$out/catch-$agent/summary.json')); print('$agent', s['backend'], 'final_return', s['final_return'], 'steps/s', round(s['env_steps_per_s']))"
done

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
