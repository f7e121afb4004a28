/* The yardstick for bt-exec's warm path (docs/BENCHMARKS.md): the least a
 * wrapper can do before running a program — stat it, read its first 4 KiB,
 * exec it. Build: cc -O2 -o wrapper benches/wrapper.c */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: wrapper PROGRAM [ARGS]\n"); return 125; }
    struct stat st;
    if (stat(argv[1], &st) != 0) { perror(argv[1]); return 127; }
    char buf[4096];
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf) < 0) { perror(argv[1]); return 127; }
    close(fd);
    execv(argv[1], argv + 1);
    perror(argv[1]);
    return 126;
}
