"""What a `botrunner` command costs before it does its job: one new process per command.

    python bench/cli_startup.py [--rounds 5] [--against DIR]

Times, as new processes, `botrunner --help`; `run` of a folder whose daemon.yaml has a typo (it
exits 2 naming it); `run` of a folder whose control.tcp port this script holds (exit 2 too: what
a daemon started twice meets); `run` of a sim-only folder up to the moment its control socket is listening
(the CPU read from /proc at that moment, then SIGTERM); `status` and `kill` against a daemon
that keeps running through the rounds; `journal` of that daemon's bot (read from its file); and
`validate` of the sim-only folder. Prints the best and the median wall and CPU (user + system)
time of each. With `--against DIR` (a tree of another commit: `git archive COMMIT | tar -x -C
DIR`) the two trees take turns, one process each, so a load that comes and goes weighs on both
alike; the ratio is of the best CPU times.

Bytecode is written and used, as on a user's machine, after one warm-up round that is not
counted. Each process is the console script's code run with the tree as working directory.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
_CONSOLE_SCRIPT = "import sys; from main import app; sys.argv[0] = 'botrunner'; sys.exit(app())"
_TICKS = os.sysconf("SC_CLK_TCK")

BOT = """\
id: b
symbol: BTC/USD
capital: 1000
market: {source: synthetic, seed: 5, bars: 100000}
strategy: {name: sma_cross, params: {fast: 5, slow: 20}}
speed: 1
"""


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, **extra}


def _command(*args: str) -> list[str]:
    return [sys.executable, "-c", _CONSOLE_SCRIPT, *args]


def one_process(tree: Path, args: list[str], expect: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `botrunner ARGS` run to its exit in `tree`."""
    started = time.perf_counter()
    child = subprocess.Popen(_command(*args), cwd=tree, env=env or _env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    err = child.stderr.read()
    child.stderr.close()
    if os.waitstatus_to_exitcode(status) != expect:
        raise SystemExit(f"{tree}: botrunner {' '.join(args)} exited {status}, not {expect}:\n{err.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def _cpu_so_far(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS       # utime, stime


def until_serving(tree: Path, config: Path, state: Path) -> tuple[float, float]:
    """(wall, CPU) of `botrunner run CONFIG` from its start to its control socket existing."""
    socket = state / "botrunner.sock"
    started = time.perf_counter()
    child = subprocess.Popen(_command("run", str(config), "--state-dir", str(state)), cwd=tree, env=_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not socket.exists():
            if child.poll() is not None:
                raise SystemExit(f"{tree}: the daemon exited {child.returncode} before serving")
            time.sleep(0.002)
        wall, cpu = time.perf_counter() - started, _cpu_so_far(child.pid)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another tree, run in turn with this one")
    args = parser.parse_args()
    trees = {"this tree": PROJECT, **({f"against {args.against}": args.against.resolve()} if args.against else {})}
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as folder, \
            socket.create_server(("127.0.0.1", 0)) as taken:
        root, port = Path(folder), taken.getsockname()[1]
        for name, daemon_yaml in (("good", ""), ("bad", "stat_dir: state\n"),
                                  ("busy", f"control: {{tcp: {{port: {port}}}}}\n")):
            (root / name / "bots").mkdir(parents=True)
            (root / name / "daemon.yaml").write_text(daemon_yaml)
            (root / name / "bots" / "b.yaml").write_text(BOT)
        served = root / "served"
        daemon = subprocess.Popen(_command("run", str(root / "good"), "--state-dir", str(served)), cwd=PROJECT,
                                  env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not (served / "botrunner.sock").exists():
                time.sleep(0.01)
            control = ["--state-dir", str(served)]
            commands = {
                "--help": lambda tree: one_process(tree, ["--help"], 0),
                "run, typo in daemon.yaml": lambda tree: one_process(tree, ["run", str(root / "bad")], 2),
                "run, control port in use": lambda tree: one_process(
                    tree, ["run", str(root / "busy"), "--state-dir", str(root / "busy-state")], 2,
                    _env(BOTRUNNER_TOKEN="a-bench-token-of-16-chars")),
                "run, sim folder, to serving": lambda tree: until_serving(tree, root / "good", root / "state"),
                "status": lambda tree: one_process(tree, ["status", *control], 0),
                "kill": lambda tree: one_process(tree, ["kill", "b", "--reason", "bench", *control], 0),
                "journal": lambda tree: one_process(tree, ["journal", "b", *control], 0),
                "validate": lambda tree: one_process(tree, ["validate", str(root / "good")], 0),
            }
            runs = {(command, name): [] for command in commands for name in trees}
            for round_ in range(args.rounds + 1):
                for command, measure in commands.items():
                    for name, tree in trees.items():
                        figures = measure(tree)
                        if round_:                    # the first round writes the bytecode
                            runs[command, name].append(figures)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
    print(f"botrunner commands as new processes, {args.rounds} rounds, load {os.getloadavg()[0]:.1f}")
    for command in commands:
        print(f"  {command}")
        for name in trees:
            walls, cpus = [w for w, _ in runs[command, name]], [c for _, c in runs[command, name]]
            print(f"    {name:<34} wall best {min(walls):.3f} s, median {statistics.median(walls):.3f} s;"
                  f"  CPU best {min(cpus):.3f} s, median {statistics.median(cpus):.3f} s")
        if args.against:
            mine, theirs = (min(c for _, c in runs[command, name]) for name in trees)
            print(f"    this tree / against, best CPU: {mine / theirs:.2f}")


if __name__ == "__main__":
    main()
