// allreduce-latency: the time of one small blocking MPI_Allreduce (sum of COUNT floats, in place),
// the latency-bound collective that synchronised batch norm issues once per layer and direction.
// Used to measure the per-message latency α of the simulated cluster's links (Docs/distributed.md).
//
//   mpicc -O2 -o /tmp/allreduce-latency Cluster/testing/allreduce-latency.c
//   Cluster/testing/local-cluster.sh run --bind-to none -- /tmp/allreduce-latency [COUNT [ITERATIONS]]
//
// Rank 0 prints the mean (elapsed time / calls), minimum, median and 90th percentile over
// ITERATIONS (default 2000) back-to-back calls of COUNT (default 64) floats, after 200 untimed
// ones. With two ranks the single calls alternate between "the peer's data is already here"
// (microseconds) and "wait for it"; the mean is the cost per reduction.
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int count = argc > 1 ? atoi(argv[1]) : 64;
    int iterations = argc > 2 ? atoi(argv[2]) : 2000;
    if (count < 1 || iterations < 1) MPI_Abort(MPI_COMM_WORLD, 2);
    float *buffer = calloc((size_t)count, sizeof *buffer);
    double *times = malloc((size_t)iterations * sizeof *times);
    for (int i = 0; i < 200; i++) MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    double begin = MPI_Wtime();
    for (int i = 0; i < iterations; i++) {
        double start = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        times[i] = MPI_Wtime() - start;
    }
    double mean = (MPI_Wtime() - begin) / iterations;
    qsort(times, (size_t)iterations, sizeof *times, compare);
    if (rank == 0)
        printf("allreduce of %d floats over %d ranks: mean %.1f us, min %.1f us, median %.1f us, p90 %.1f us (%d calls)\n",
               count, size, mean * 1e6, times[0] * 1e6, times[iterations / 2] * 1e6, times[iterations * 9 / 10] * 1e6, iterations);
    free(times);
    free(buffer);
    MPI_Finalize();
    return 0;
}
