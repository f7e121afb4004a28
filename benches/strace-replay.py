#!/usr/bin/env python3
"""Turns `strace -f -o TRACE bt-exec ... PROGRAM` into a C program that makes
the same system calls, on the same paths, in the same order, as bt-exec's
front did between its start-up and the exec of the program, and then execs
the same file: the cost of the warm path's system calls without the code
around them (docs/BENCHMARKS.md). The C library's own start-up calls (brk,
arch_prctl, set_tid_address, set_robust_list, rseq, prlimit64, readlink,
getrandom, mprotect) are left to the C library, which makes them too.

Usage: benches/strace-replay.py TRACE > replay.c && cc -O2 -static-pie -o replay replay.c
then run `./replay PROGRAM` where the trace was taken (same directory).
"""
import re
import sys

C_START_UP = {"brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq",
              "prlimit64", "readlink", "getrandom", "mprotect"}


def main():
    out = ["#define _GNU_SOURCE", "#include <fcntl.h>", "#include <poll.h>",
           "#include <sys/stat.h>", "#include <unistd.h>",
           "int main(int argc, char **argv) {",
           "  struct statx sx; char buf[65536]; int fd = -1; (void)argc;"]
    started = False
    for line in open(sys.argv[1]):
        m = re.match(r"(?:\d+ +)?(\w+)\((.*)\) += (.*)$", line.rstrip("\n"))
        if not m:
            continue
        name, args, _ = m.groups()
        if name == "execve":
            if started:  # the program: exec the very file bt-exec did
                path = re.match(r'"([^"]*)"', args).group(1)
                out += [f'  execv("{path}", argv + 1);', "  return 126;"]
                break
            started = True
        elif not started or name in C_START_UP:
            continue
        elif name == "statx":
            dirfd, path, flags = re.match(r'(AT_FDCWD|\d+), "([^"]*)", ([A-Z_|]+)', args).groups()
            out.append(f'  statx({"AT_FDCWD" if dirfd == "AT_FDCWD" else "fd"}, "{path}", '
                       f"{flags}, STATX_ALL, &sx);")
        elif name == "openat":
            path, flags = re.match(r'AT_FDCWD, "([^"]*)", ([A-Z_|]+)', args).groups()
            out.append(f'  fd = openat(AT_FDCWD, "{path}", {flags}, 0600);')
        elif name == "read":
            out.append(f"  read(fd, buf, {min(int(args.rsplit(',', 1)[1]), 65536)});")
        elif name == "close":
            out.append("  close(fd);")
        elif name == "umask":
            out.append("  umask(022);")
        elif name == "getcwd":
            out.append("  getcwd(buf, 512);")
        elif name == "geteuid":
            out.append("  geteuid();")
        elif name == "fcntl":
            out.append(f"  fcntl({int(args.split(',')[0])}, F_GETFD);")
        elif name == "ppoll":
            out.append("  { struct pollfd p[3] = {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}}; poll(p, 3, 0); }")
        else:
            sys.exit(f"strace-replay: no C for this call: {line.strip()}")
    out.append("}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
