"""daemon.yaml's `cluster:` block: bad values and missing variables are reported naming the file,
the field and what is allowed, before anything opens; no URL (it may hold a password) is ever
printed; a node that cannot reach Redis exits 2 saying so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runner.cluster.config import redacted
from runner.config.bot import ConfigError
from runner.daemon.process import plan_daemon
from tests.cluster.servers import free_port
from tests.daemon_process import PROJECT

BOT = {"id": "sim", "symbol": "BTC/USDT", "capital": 100, "strategy": {"name": "sma_cross"}}
GOOD_ENV = {"BOTRUNNER_REDIS_URL": "redis://:s3cret@127.0.0.1:6379/0",
            "BOTRUNNER_POSTGRES_URL": "postgresql://bot:s3cret@127.0.0.1:5432/botrunner"}


def folder(root: Path, cluster: dict) -> Path:
    (root / "bots").mkdir(parents=True, exist_ok=True)
    (root / "bots" / "sim.yaml").write_text(yaml.safe_dump(BOT))
    (root / "daemon.yaml").write_text(yaml.safe_dump({"cluster": cluster}))
    return root


def problems(root: Path, cluster: dict, environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        plan_daemon(folder(root, cluster), None, environ=environ)
    return refused.value.problems


def test_a_valid_cluster_block_plans_a_node(tmp_path):
    plan = plan_daemon(folder(tmp_path, {"node": "node-a", "lease_secs": 2}), None, environ=GOOD_ENV)
    assert plan.daemon.cluster.node == "node-a" and plan.daemon.cluster.timings().stop_after_secs == 1.5


@pytest.mark.parametrize("cluster, expected", [
    ({"lease_secs": 5}, "cluster.node: required field is missing"),
    ({"node": "Node A"}, "cluster.node:"),
    ({"node": "a", "lease_secs": 0.5}, "cluster.lease_secs: must be >= 1 and <= 600, got 0.5"),
    ({"node": "a", "redis_url": "redis://x"}, "cluster.redis_url"),
    ({"node": "a", "redis_url_env": "redis url"}, "cluster.redis_url_env:"),
])
def test_bad_cluster_values_name_the_file_and_the_field(tmp_path, cluster, expected):
    found = problems(tmp_path, cluster, GOOD_ENV)
    assert any(str(tmp_path / "daemon.yaml") in p and expected in p for p in found), found


def test_a_basket_plans_in_cluster_mode_with_its_legs_naming_it(tmp_path):
    (tmp_path / "bots").mkdir()
    (tmp_path / "bots" / "trio.yaml").write_text(yaml.safe_dump({
        "id": "trio", "symbols": ["BTC/USDT", "ETH/USDT"], "capital": 1000, "strategy": {"name": "sma_cross"}}))
    plan = plan_daemon(folder(tmp_path, {"node": "node-a"}), None, environ=GOOD_ENV)
    assert {b.id: b.basket and b.basket.basket for b in plan.bots} == \
        {"sim": None, "trio.btc-usdt": "trio", "trio.eth-usdt": "trio"}


def test_a_basket_with_a_symbol_provider_is_refused_in_cluster_mode_naming_it(tmp_path):
    (tmp_path / "bots").mkdir()
    (tmp_path / "symbols.txt").write_text("BTC/USDT\nETH/USDT\n")
    (tmp_path / "bots" / "trio.yaml").write_text(yaml.safe_dump({
        "id": "trio", "capital": 1000, "strategy": {"name": "sma_cross"},
        "symbol_provider": {"source": "file", "path": str(tmp_path / "symbols.txt"), "refresh_secs": 5}}))
    found = problems(tmp_path, {"node": "node-a"}, GOOD_ENV)
    assert len(found) == 1
    assert "daemon.yaml: cluster: baskets with a symbol_provider cannot run in cluster mode yet (trio)" in found[0]


def test_missing_or_wrong_url_variables_are_named_and_no_url_is_printed(tmp_path):
    environ = {"BOTRUNNER_REDIS_URL": "http://user:s3cret@127.0.0.1:6379"}
    found = problems(tmp_path, {"node": "node-a"}, environ)
    assert len(found) == 2, found
    assert "cluster.redis_url_env: BOTRUNNER_REDIS_URL must hold a URL starting redis:// or rediss:// " \
           "or unix://, not http://" in found[0]
    assert "cluster.postgres_url_env: set the URL in the environment variable BOTRUNNER_POSTGRES_URL" in found[1]
    assert not any("s3cret" in p for p in found)


def test_a_url_variable_whose_port_cannot_be_reached_is_named_and_no_url_is_printed(tmp_path):
    # Before: the node started, and redis's own 'Port out of range 0-65535' was all it said.
    environ = {"BOTRUNNER_REDIS_URL": "redis://:s3cret@127.0.0.1:99999/0",
               "BOTRUNNER_POSTGRES_URL": "postgresql://bot:s3cret@127.0.0.1:0/botrunner"}
    assert problems(tmp_path, {"node": "node-a"}, environ) == [
        f"{tmp_path / 'daemon.yaml'}: cluster.redis_url_env: BOTRUNNER_REDIS_URL: the port must be a number from 1 "
        "to 65535, got 99999",
        f"{tmp_path / 'daemon.yaml'}: cluster.postgres_url_env: BOTRUNNER_POSTGRES_URL: the port must be a number "
        "from 1 to 65535, got 0"]


def test_urls_in_log_lines_have_their_password_masked():
    assert redacted("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_node_that_cannot_reach_redis_exits_2_naming_the_variable_not_the_password(tmp_path):
    config = folder(tmp_path / "config", {"node": "node-a"})
    env = {**os.environ, "BOTRUNNER_REDIS_URL": f"redis://:s3cret@127.0.0.1:{free_port()}/0",   # nobody listens
           "BOTRUNNER_POSTGRES_URL": "postgresql://bot:s3cret@127.0.0.1:1/botrunner"}
    result = subprocess.run([sys.executable, str(PROJECT / "main.py"), "run", str(config), "--state-dir",
                             str(tmp_path / "state")], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "cluster.redis_url_env: cannot reach Redis at redis://:***@127.0.0.1" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
