// coll-trace: which all-reduce algorithm Open MPI's coll/tuned really runs. An LD_PRELOAD library
// that stands in for libmpi's algorithm functions (ompi_coll_base_allreduce_intra_*, which
// mca_coll_tuned.so calls through the dynamic linker), counts each call by algorithm and message
// size, and forwards it to the real function. At exit, world rank 0 prints one line per
// (algorithm, bytes) to stderr:
//
//   coll-trace: rank 0 allreduce bytes=1048576 algorithm=redscat_allgather (rabenseifner) calls=123
//
// Only blocking all-reduces served by coll/tuned pass through here: coll/libnbc (MPI_Iallreduce)
// schedules its own algorithms internally, and coll/han calls tuned on its sub-communicators
// (those calls are counted too, with their smaller communicator's size in `ranks=`).
//
//   gcc -O2 -shared -fPIC -o /tmp/coll-trace.so Cluster/testing/coll-trace.c -ldl
//   mpirun … -x LD_PRELOAD=/tmp/coll-trace.so /tmp/allreduce-sweep …
//
// Built for Open MPI 4.1 (the signatures of ompi/mca/coll/base/coll_base_functions.h there).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// Opaque to this file: Open MPI's datatype, op, communicator and module structures.
typedef void datatype_t;
typedef void op_t;
typedef void comm_t;
typedef void module_t;
typedef int (*plain_fn)(const void *, void *, int, datatype_t *, op_t *, comm_t *, module_t *);
typedef int (*segmented_fn)(const void *, void *, int, datatype_t *, op_t *, comm_t *, module_t *, uint32_t);

// PMPI entry points used to find the byte size and the communicator size (the structures are opaque).
extern int PMPI_Type_size(datatype_t *, int *);
extern int PMPI_Comm_size(comm_t *, int *);

enum { MAX_ENTRIES = 512 };
static struct { const char *name; long bytes; int ranks; long calls; } entries[MAX_ENTRIES];
static int entry_count;

static void count(const char *name, int elements, datatype_t *dtype, comm_t *comm) {
    int type_size = 0, ranks = 0;
    PMPI_Type_size(dtype, &type_size);
    PMPI_Comm_size(comm, &ranks);
    long bytes = (long)elements * type_size;
    for (int i = 0; i < entry_count; i++)
        if (entries[i].name == name && entries[i].bytes == bytes && entries[i].ranks == ranks) {
            entries[i].calls++;
            return;
        }
    if (entry_count < MAX_ENTRIES) {
        entries[entry_count].name = name;
        entries[entry_count].bytes = bytes;
        entries[entry_count].ranks = ranks;
        entries[entry_count].calls = 1;
        entry_count++;
    }
}

static void *real(const char *symbol) {
    void *f = dlsym(RTLD_NEXT, symbol);
    if (!f) { fprintf(stderr, "coll-trace: %s not found\n", symbol); abort(); }
    return f;
}

#define PLAIN(suffix, label)                                                                        \
    int ompi_coll_base_allreduce_intra_##suffix(const void *s, void *r, int n, datatype_t *d,      \
                                                op_t *o, comm_t *c, module_t *m) {                 \
        static plain_fn f;                                                                         \
        if (!f) f = (plain_fn)real("ompi_coll_base_allreduce_intra_" #suffix);                     \
        count(label, n, d, c);                                                                     \
        return f(s, r, n, d, o, c, m);                                                             \
    }

PLAIN(basic_linear, "basic_linear")
PLAIN(nonoverlapping, "nonoverlapping (reduce + bcast)")
PLAIN(recursivedoubling, "recursive_doubling")
PLAIN(ring, "ring")
PLAIN(redscat_allgather, "redscat_allgather (rabenseifner)")

int ompi_coll_base_allreduce_intra_ring_segmented(const void *s, void *r, int n, datatype_t *d, op_t *o,
                                                  comm_t *c, module_t *m, uint32_t segsize) {
    static segmented_fn f;
    if (!f) f = (segmented_fn)real("ompi_coll_base_allreduce_intra_ring_segmented");
    count("segmented_ring", n, d, c);
    return f(s, r, n, d, o, c, m, segsize);
}

__attribute__((destructor)) static void report(void) {
    const char *rank = getenv("OMPI_COMM_WORLD_RANK");
    if (rank && atoi(rank) != 0) return;
    for (int i = 0; i < entry_count; i++)
        fprintf(stderr, "coll-trace: rank 0 allreduce ranks=%d bytes=%ld algorithm=%s calls=%ld\n",
                entries[i].ranks, entries[i].bytes, entries[i].name, entries[i].calls);
}
