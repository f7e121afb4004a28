/* The program the warm-path benchmark runs (docs/BENCHMARKS.md). */
int main(void) { return 0; }
