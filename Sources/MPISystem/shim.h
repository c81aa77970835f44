// The system MPI library (Debian: libopenmpi-dev). Swift never imports this module: it only carries the
// compiler and linker flags of `pkg-config mpi-c` to the CMPI shim, which is the one place mpi.h is used.
#include <mpi.h>
