"""Run composition: plugin configs validated once and kept typed, the agent built once per run."""

import dataclasses
import json

import pytest

from rlk.core.config import build_run_config
from rlk.core.interfaces import Program
from rlk.core.run import Run, resolve

SMALL = {"agent": {"name": "ppo", "num_envs": 4, "unroll_length": 8}, "backend": {"name": "cpu", "num_devices": 1},
         "steps": 64, "log_every_steps": 32,
         "eval_episodes": 2}


def _counted(resolved):
    """The resolved run with its agent factory wrapped to count calls (and the axis names given)."""
    axes = []
    factory = resolved.agent.factory

    def counting(config, spec, axis_name, losses):
        axes.append(axis_name)
        return factory(config, spec, axis_name, losses)

    resolved.agent = dataclasses.replace(resolved.agent, factory=counting)
    return axes


@pytest.mark.parametrize("arch", ["anakin", "sebulba"])
def test_the_agent_is_built_once_per_run(tmp_path, arch):
    """Training and the final greedy evaluation use the one agent the architecture built, with the
    mesh axis (before this change: 3 builds for Anakin, 2 for Sebulba)."""
    resolved = resolve(build_run_config({**SMALL, "arch": arch, "run_dir": str(tmp_path)}))
    axes = _counted(resolved)
    summary = Run(resolved, tmp_path).train()
    assert axes == ["data"]
    assert summary["arch"] == arch and len(summary["final_return_per_seed"]) == 1


def test_resolved_run_keeps_typed_configs_and_saves_their_values(tmp_path):
    from rlk.plugins.actor_critic.ppo import PPOConfig

    resolved = resolve(build_run_config({**SMALL, "agent": {"name": "ppo", "num_envs": 4, "unroll_length": 8,
                                                            "learning_rate": 1e-3}}))
    agent = resolved.settings["agent"]
    assert isinstance(agent, PPOConfig) and agent.learning_rate == 1e-3 and agent.num_envs == 4
    assert resolved.config.agent.options() == agent.model_dump(mode="json")  # what config.json holds
    program = Run(resolved, tmp_path).build()
    assert isinstance(program, Program) and program.info.kind == "agent"
    assert resolved.settings["arch"] is None  # anakin, chosen from the env's kind, has no options
    assert json.loads(json.dumps(resolved.config.model_dump(mode="json")))["agent"]["learning_rate"] == 1e-3


def test_run_folder_lock_names_its_owner_and_is_taken_over_when_stale(tmp_path):
    """flock'ed while held (a second claim refuses, naming pid and host), emptied on release; a stamp left
    by a dead process on this host is taken over with a warning, one of another host is refused."""
    import os
    import socket

    from rlk.core.errors import RlkError
    from rlk.core.runfolder import LOCK, check_free, claim

    lock, me, warnings = tmp_path / LOCK, f"{os.getpid()} {socket.gethostname()}", []
    check_free(tmp_path)  # no lock file: free
    with claim(tmp_path, True, warnings.append):
        assert lock.read_text() == me + "\n"
        with pytest.raises(RlkError, match=f"in use by process {os.getpid()}"):  # what a resume checks first
            check_free(tmp_path)
        with pytest.raises(RlkError, match=f"in use by process {os.getpid()} on host {socket.gethostname()}"):
            with claim(tmp_path, False, warnings.append):
                pass
    assert lock.read_text() == "" and warnings == []
    check_free(tmp_path)  # released
    lock.write_text(f"4194999 {socket.gethostname()}\n")  # SIGKILLed: stamped, flock gone with the process
    with claim(tmp_path, True, warnings.append):
        assert lock.read_text() == me + "\n"
    assert warnings == [f"warning: run folder '{tmp_path}': taking over the lock of process 4194999, which is gone"]
    lock.write_text("17 another-host\n")
    with pytest.raises(RlkError, match="locked by process 17 on host another-host; if that run has ended, delete"):
        with claim(tmp_path, False, warnings.append):
            pass
