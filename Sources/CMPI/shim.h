#ifndef DDPTRAIN_CMPI_SHIM_H
#define DDPTRAIN_CMPI_SHIM_H
// OpenMPI's C interface (Debian: libopenmpi-dev), found through pkg-config "ompi-c".
// MPI_COMM_WORLD, the datatypes, the operations and MPI_IN_PLACE are macros that Swift cannot
// import, so they are exposed here as static inline functions.
#include <mpi.h>

static inline MPI_Comm ddp_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype ddp_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype ddp_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype ddp_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype ddp_uint64(void) { return MPI_UINT64_T; }
// bfloat16 values travel as 16-bit words, summed by a user-defined operation (MPI_Op_create).
static inline MPI_Datatype ddp_uint16(void) { return MPI_UINT16_T; }
static inline MPI_Op ddp_sum(void) { return MPI_SUM; }
static inline MPI_Op ddp_min(void) { return MPI_MIN; }
static inline MPI_Op ddp_max(void) { return MPI_MAX; }
static inline void *ddp_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Request ddp_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *ddp_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *ddp_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline int ddp_success(void) { return MPI_SUCCESS; }
static inline int ddp_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline MPI_Errhandler ddp_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int ddp_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline MPI_Info ddp_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Comm ddp_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Op ddp_op_null(void) { return MPI_OP_NULL; }
#endif
