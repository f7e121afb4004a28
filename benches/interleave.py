#!/usr/bin/env python3
"""Interleaved run-by-run timing (docs/BENCHMARKS.md, the harshest of the
three methods): each round runs every command once, in turn, so no command
gets a run of warm caches to itself. Prints each command's median and the
overhead ratio of each against the first two (the program alone and the
C wrapper in front of it).

Usage: benches/interleave.py ROUNDS 'CMD' 'CMD' ...   (run in the setup DIR
of benches/exec-setup.sh, with BT_EXEC_CACHE_DIR/BT_EXEC_STATE_DIR set).
Leading NAME=VALUE words of a CMD set that variable for it alone (two
builds side by side, each with its own state directory).
"""
import os
import shlex
import statistics
import sys
import time


def split(cmd):
    """The environment and argv of CMD (leading NAME=VALUE words)."""
    words = shlex.split(cmd)
    env = dict(os.environ)
    while words and "=" in words[0] and not words[0].startswith(("/", ".")):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    return env, words


def run(cmd):
    env, argv = cmd
    devnull = os.open(os.devnull, os.O_RDWR)
    start = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, env,
                          file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1),
                                        (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter_ns() - start
    os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)}: exit {os.waitstatus_to_exitcode(status)}")
    return elapsed / 1e6


def main():
    rounds = int(sys.argv[1])
    cmds = [split(c) for c in sys.argv[2:]]
    times = [[] for _ in cmds]
    for _ in range(20):  # warm-up
        for c in cmds:
            run(c)
    for _ in range(rounds):
        for i, c in enumerate(cmds):
            times[i].append(run(c))
    med = [statistics.median(t) for t in times]
    base, wrapper = med[0], med[1]
    for c, m, t in zip(sys.argv[2:], med, times):
        q = statistics.quantiles(t, n=4)
        ratio = (m - base) / (wrapper - base) if wrapper > base else float("nan")
        print(f"{c:55} median {m:.3f} ms  (q1 {q[0]:.3f}, q3 {q[2]:.3f})  "
              f"overhead {m - base:.3f} ms  ÷ wrapper's {ratio:.2f}")


if __name__ == "__main__":
    main()
