"""Trainer throughput: a model's training step beside its forward-only pass, in one process.

    python benchmarks/trainer_throughput.py                      # bwlc_codec on digits, joint and separate
    python benchmarks/trainer_throughput.py --systems joint --batch-size 256 --json

For each row, one process builds the program ``rlk train --model M --dataset D`` builds (``RunConfig``
-> registry -> ``cpu`` backend -> ``make_trainer`` -> ``TrainerProgram.compile``) and times, after
compiling, on the same device, batch size and data stream:

- ``train``: calls of the Trainer's compiled step as the run loop makes them: ``updates_per_call``
  optimizer updates (forward + backward + optax) per call, the host batches stacked and put on the
  device by the program, the metrics fetched to numpy (``program.summarise``) after each call;
- ``forward``: the model's forward pass without a gradient, ``model.loss(params, batch, keys)`` (for
  ``bwlc_codec``: encoder -> channel -> prior fill -> auxiliary posterior -> decoder, and the rate
  terms), the same ``updates_per_call`` batches per call in one ``jit``-ed ``lax.scan``, with the
  same per-example keys, host batches stacked and put on the device the same way, metrics fetched;
- ``data``: the host batches alone (next ``updates_per_call`` batches, stacked, ``device_put``).

Examples/s count ``updates_per_call x batch_size`` per call. Repeats are interleaved (train, forward,
data, train, ...) so that load from other processes hits all three alike, and the best repeat is
reported (as ``rlk bench`` does). ``ratio`` = train / forward examples/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np


def build_program(model: str, dataset: str, batch_size: int, updates_per_call: int, overrides: dict[str, Any]):
    """The Trainer program of ``rlk train --model MODEL --dataset DATASET`` (the real registry path)."""
    from rlk.core.config import build_run_config
    from rlk.core.run import Run, resolve

    config = build_run_config({"model": {"name": model, **overrides}, "dataset": dataset,
                               "arch": {"name": "trainer", "batch_size": batch_size},
                               "steps": 10 * updates_per_call, "log_every_steps": updates_per_call})
    return Run(resolve(config), Path(".")).build()


def _stack(iterator, n: int) -> dict[str, np.ndarray]:
    """The next ``n`` host batches stacked ``[n, B, ...]`` (as ``TrainerProgram._host_batches`` does per seed)."""
    bs = [next(iterator) for _ in range(n)]
    return {k: np.stack([b[k] for b in bs]) for k in bs[0]}


def make_forward(model, batch_size: int):
    """``forward(params, key, batches[U, B, ...]) -> (key, metrics[U])``: the loss without its gradient."""

    def forward(params, key, batches):
        def body(key, batch):
            key, example_key = jax.random.split(key)  # the keys the train step draws (trainer.make_update)
            loss, metrics = model.loss(params, batch, jax.random.split(example_key, batch_size))
            return key, {**metrics, "loss": loss}

        return jax.lax.scan(body, key, batches)

    return jax.jit(forward)


def measure(model_name: str, dataset: str, overrides: dict[str, Any], batch_size: int, updates_per_call: int,
            calls: int, repeats: int, seed: int = 0) -> dict[str, Any]:
    from rlk.bench import machine

    program = build_program(model_name, dataset, batch_size, updates_per_call, overrides)
    U, B = updates_per_call, batch_size
    examples_per_call = U * B

    # train: the program's own compiled step (host batches inside), as the run loop calls it
    state = program.init([seed])
    params = jax.tree.map(lambda x: jnp.array(x[0]), state.params)  # a copy: the step donates the state
    t0 = time.perf_counter()
    step = program.compile(state)
    train_compile_s = time.perf_counter() - t0
    holder = {"state": state}

    def train_call():
        holder["state"], metrics = step(holder["state"])
        jax.block_until_ready(program.summarise(metrics))

    # forward: the same batches from the same kind of iterator, same device
    fwd = make_forward(program.model, B)
    fwd_iter = program.dataset.batches("train", B, seed, start=0)
    data_iter = program.dataset.batches("train", B, seed + 1, start=0)
    device = jax.devices()[0]
    key = {"key": jax.random.PRNGKey(seed)}
    t0 = time.perf_counter()
    fwd_compiled = fwd.lower(params, key["key"], jax.device_put(_stack(fwd_iter, U), device)).compile()
    forward_compile_s = time.perf_counter() - t0

    def forward_call():
        key["key"], metrics = fwd_compiled(params, key["key"], jax.device_put(_stack(fwd_iter, U), device))
        jax.block_until_ready({k: np.asarray(v).mean() for k, v in metrics.items()})

    def data_call():
        jax.block_until_ready(jax.device_put(_stack(data_iter, U), device))

    timings = {"train": [], "forward": [], "data": []}
    fns = {"train": train_call, "forward": forward_call, "data": data_call}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            timings[name].append(time.perf_counter() - t0)
    per_s = {name: calls * examples_per_call / min(ts) for name, ts in timings.items()}
    return {
        "model": model_name,
        "dataset": dataset,
        "overrides": overrides,
        "batch_size": B,
        "updates_per_call": U,
        "train_examples_per_s": per_s["train"],
        "forward_examples_per_s": per_s["forward"],
        "data_examples_per_s": per_s["data"],
        "ratio": per_s["train"] / per_s["forward"],
        "train_compile_s": train_compile_s,
        "forward_compile_s": forward_compile_s,
        "device": f"{device.platform}:{device.device_kind}",
        "devices": program.info.num_devices,
        "calls": calls,
        "repeats": repeats,
        "machine": machine(),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    m = rows[0]["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores; device {rows[0]['device']} x {rows[0]['devices']}; "
             f"best of {rows[0]['repeats']} interleaved repeats of {rows[0]['calls']} calls", "",
             "| model | dataset | options | batch | updates/call | train examples/s | forward examples/s | "
             "train / forward | data alone examples/s | compile s (train, forward) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        opts = ", ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "defaults"
        lines.append(f"| {r['model']} | {r['dataset']} | {opts} | {r['batch_size']} | {r['updates_per_call']} | "
                     f"{r['train_examples_per_s']:,.0f} | {r['forward_examples_per_s']:,.0f} | {r['ratio']:.2f} | "
                     f"{r['data_examples_per_s']:,.0f} | {r['train_compile_s']:.1f}, {r['forward_compile_s']:.1f} |")
    return "\n".join(lines)


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="bwlc_codec")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--systems", default="joint,separate",
                   help="bwlc_codec: one row per model.system (empty: one row with the model's defaults)")
    p.add_argument("-o", "--override", action="append", default=[], help="model option KEY=VALUE (repeatable)")
    p.add_argument("--batch-size", type=int, default=64, help="global batch (the Trainer's default)")
    p.add_argument("--updates-per-call", type=int, default=100, help="updates per compiled call (log_every_steps)")
    p.add_argument("--calls", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true", help="JSON rows instead of the table")
    args = p.parse_args(argv)
    base = {}
    for o in args.override:
        k, _, v = o.partition("=")
        base[k.removeprefix("model.")] = _value(v)
    variants = [{**base, "system": s} for s in args.systems.split(",") if s] if args.model == "bwlc_codec" else []
    rows = [measure(args.model, args.dataset, v, args.batch_size, args.updates_per_call, args.calls, args.repeats)
            for v in (variants or [base])]
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))


if __name__ == "__main__":
    sys.exit(main())
