// allreduce-sweep: the time of one in-place float sum all-reduce over MPI_COMM_WORLD at message
// sizes from 256 B to 4 MiB, blocking (MPI_Allreduce, which Open MPI serves with coll/tuned or
// coll/han) and non-blocking (MPI_Iallreduce + MPI_Wait, served by coll/libnbc), the two calls
// ddptrain makes: batch norm's small blocking reductions and the gradient buckets' non-blocking
// ones (both MPI_IN_PLACE, as here). Used for the algorithm tables and the α/β fits of
// Docs/distributed.md ("Gradient all-reduce algorithms, measured"); the driver is
// Cluster/testing/allreduce-sweep.sh.
//
//   mpicc -O2 -o /tmp/allreduce-sweep Cluster/testing/allreduce-sweep.c
//   mpirun … /tmp/allreduce-sweep [--mode blocking|nonblocking|both] [--sizes B,B,…]
//                                 [--budget SECONDS] [--max-iterations N]
//
// For every mode and size, rank 0 prints one line:
//
//   sweep mode=blocking ranks=8 bytes=1048576 iterations=120 mean_us=… median_us=… min_us=… p90_us=… fingerprint=…
//
// mean_us is the elapsed time of the timed loop over its calls, the largest over the ranks
// (the loop starts after a barrier; back-to-back calls pipeline, so the mean is the cost per
// reduction); median/min/p90 are rank 0's single calls. The number of calls per size is what
// fits in --budget seconds (default 0.4) after 3 untimed calls, at least 5 and at most
// --max-iterations (default 2000), the same on every rank (rank 0 decides and broadcasts).
//
// fingerprint: a hash of the bits of one reduction of fixed, order-sensitive data (values of
// very different magnitudes on different ranks, so that float rounding depends on the order in
// which the algorithm adds the ranks' contributions). Two runs with the same fingerprint at a
// size added in the same order, i.e. (almost surely) used the same algorithm; which algorithm
// Open MPI's default picks is found by comparing its fingerprints with those of runs that force
// each algorithm. The same reduction is checked against a double-precision reference (every
// element within a relative 1e-5 of it) and the program exits 1 if any rank's result is wrong
// or differs from rank 0's.
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// A reproducible value for element i of rank r: magnitudes spread over 2^-12 … 2^12 by rank and
// element, so that sums of 3 or more ranks round differently in different orders.
static float datum(int rank, size_t i) {
    uint64_t h = (uint64_t)rank * 0x9E3779B97F4A7C15ull ^ (uint64_t)i * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29; h *= 0xBF58476D1CE4E5B9ull; h ^= h >> 32;
    double mantissa = 1.0 + (double)(h & 0xFFFFFF) / 16777216.0;
    int exponent = (int)((h >> 24) % 25) - 12;
    return (float)ldexp((h >> 60) & 1 ? -mantissa : mantissa, exponent);
}

static uint64_t fnv1a(const void *data, size_t bytes) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < bytes; i++) { h ^= p[i]; h *= 0x100000001b3ull; }
    return h;
}

static void reduce(int nonblocking, float *buffer, int count) {
    if (nonblocking) {
        MPI_Request request;
        MPI_Iallreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request);
        MPI_Wait(&request, MPI_STATUS_IGNORE);
    } else {
        MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
}

static void usage(void) {
    fprintf(stderr, "usage: allreduce-sweep [--mode blocking|nonblocking|both] [--sizes B,B,…] "
                    "[--budget SECONDS] [--max-iterations N]\n");
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    int modes[2] = {1, 1};  // blocking, nonblocking
    double budget = 0.4;
    int max_iterations = 2000;
    size_t sizes[64];
    int size_count = 0;
    for (size_t bytes = 256; bytes <= (size_t)4 << 20; bytes *= 2) sizes[size_count++] = bytes;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--mode") && a + 1 < argc) {
            const char *m = argv[++a];
            if (!strcmp(m, "blocking")) { modes[0] = 1; modes[1] = 0; }
            else if (!strcmp(m, "nonblocking")) { modes[0] = 0; modes[1] = 1; }
            else if (!strcmp(m, "both")) { modes[0] = 1; modes[1] = 1; }
            else { if (rank == 0) usage(); MPI_Abort(MPI_COMM_WORLD, 2); }
        } else if (!strcmp(argv[a], "--sizes") && a + 1 < argc) {
            size_count = 0;
            char *list = strdup(argv[++a]);
            for (char *t = strtok(list, ","); t && size_count < 64; t = strtok(NULL, ","))
                sizes[size_count++] = (size_t)strtoull(t, NULL, 10);
            free(list);
        } else if (!strcmp(argv[a], "--budget") && a + 1 < argc) {
            budget = atof(argv[++a]);
        } else if (!strcmp(argv[a], "--max-iterations") && a + 1 < argc) {
            max_iterations = atoi(argv[++a]);
        } else {
            if (rank == 0) usage();
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
    }
    for (int s = 0; s < size_count; s++)
        if (sizes[s] < sizeof(float) || sizes[s] % sizeof(float)) {
            if (rank == 0) fprintf(stderr, "allreduce-sweep: sizes must be positive multiples of 4 bytes\n");
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
    if (budget <= 0 || max_iterations < 5) { if (rank == 0) usage(); MPI_Abort(MPI_COMM_WORLD, 2); }

    size_t largest = 0;
    for (int s = 0; s < size_count; s++) if (sizes[s] > largest) largest = sizes[s];
    float *buffer = malloc(largest);
    double *reference = malloc(largest / sizeof(float) * sizeof(double));
    double *times = malloc((size_t)max_iterations * sizeof *times);
    if (!buffer || !reference || !times) MPI_Abort(MPI_COMM_WORLD, 3);
    int failures = 0;

    for (int mode = 0; mode < 2; mode++) {
        if (!modes[mode]) continue;
        for (int s = 0; s < size_count; s++) {
            int count = (int)(sizes[s] / sizeof(float));
            // Correctness and fingerprint: one reduction of the fixed data.
            for (int i = 0; i < count; i++) buffer[i] = datum(rank, (size_t)i);
            reduce(mode, buffer, count);
            for (int i = 0; i < count; i++) {
                double sum = 0;
                for (int r = 0; r < size; r++) sum += datum(r, (size_t)i);
                reference[i] = sum;
            }
            int wrong = 0;
            for (int i = 0; i < count; i++) {
                double scale = 0;
                for (int r = 0; r < size; r++) scale += fabs(datum(r, (size_t)i));
                if (!(fabs(buffer[i] - reference[i]) <= 1e-5 * scale)) { wrong++; }
            }
            uint64_t fingerprint = fnv1a(buffer, sizes[s]), low = fingerprint, high = fingerprint;
            MPI_Allreduce(MPI_IN_PLACE, &low, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
            MPI_Allreduce(MPI_IN_PLACE, &high, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
            MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
            if (wrong || low != high) failures++;

            // Timing: small values so that repeated in-place sums stay finite.
            for (int i = 0; i < count; i++) buffer[i] = 1e-30f;
            double start = MPI_Wtime();
            for (int i = 0; i < 3; i++) reduce(mode, buffer, count);
            double per_call = (MPI_Wtime() - start) / 3;
            int iterations = per_call > 0 ? (int)(budget / per_call) : max_iterations;
            if (iterations < 5) iterations = 5;
            if (iterations > max_iterations) iterations = max_iterations;
            MPI_Bcast(&iterations, 1, MPI_INT, 0, MPI_COMM_WORLD);
            MPI_Barrier(MPI_COMM_WORLD);
            double begin = MPI_Wtime();
            for (int i = 0; i < iterations; i++) {
                double t = MPI_Wtime();
                reduce(mode, buffer, count);
                times[i] = MPI_Wtime() - t;
            }
            double mean = (MPI_Wtime() - begin) / iterations;
            MPI_Allreduce(MPI_IN_PLACE, &mean, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            qsort(times, (size_t)iterations, sizeof *times, compare_doubles);
            if (rank == 0) {
                printf("sweep mode=%s ranks=%d bytes=%zu iterations=%d mean_us=%.1f median_us=%.1f min_us=%.1f "
                       "p90_us=%.1f fingerprint=%016llx%s\n",
                       mode ? "nonblocking" : "blocking", size, sizes[s], iterations, mean * 1e6,
                       times[iterations / 2] * 1e6, times[0] * 1e6, times[iterations * 9 / 10] * 1e6,
                       (unsigned long long)fingerprint,
                       wrong ? " WRONG-RESULT" : low != high ? " RANKS-DIFFER" : "");
                fflush(stdout);
            }
        }
    }
    free(times);
    free(reference);
    free(buffer);
    MPI_Finalize();
    return failures ? 1 : 0;
}
