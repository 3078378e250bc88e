# MPI for attnrt_mpi (mpi/): found, or not, and how ctest starts ranks on
# this machine (loopback only: shared memory and self, no network probing;
# --oversubscribe for Open MPI when there are more ranks than cores).
set(ATTNRT_HAVE_MPI OFF)
if(ATTNRT_WITH_MPI AND NOT CMAKE_CROSSCOMPILING)
  find_package(MPI COMPONENTS C)
  if(MPI_C_FOUND)
    set(ATTNRT_HAVE_MPI ON)
  endif()
endif()
message(STATUS "attnrt: mpi=${ATTNRT_HAVE_MPI}")

set(ATTNRT_MPIEXEC_FLAGS "")
set(ATTNRT_MPI_TEST_ENV ATTNRT_NUM_THREADS=1)
if(ATTNRT_HAVE_MPI)
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE mpiexec_version ERROR_QUIET)
  if(mpiexec_version MATCHES "Open MPI|OpenRTE")
    # Open MPI refuses root unless told; single-copy (CMA) needs ptrace
    # rights that containers often lack.
    list(APPEND ATTNRT_MPIEXEC_FLAGS --oversubscribe)
    list(APPEND ATTNRT_MPI_TEST_ENV OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
         OMPI_MCA_btl_vader_single_copy_mechanism=none)
  endif()
endif()

# attnrt_mpi_test(<name> <ranks> <target> [args...]): a ctest test running
# the target on that many ranks, labelled mpi.
function(attnrt_mpi_test name ranks target)
  add_test(NAME ${name}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ranks} ${ATTNRT_MPIEXEC_FLAGS} ${MPIEXEC_PREFLAGS}
                   $<TARGET_FILE:${target}> ${MPIEXEC_POSTFLAGS} ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS mpi TIMEOUT 200 ENVIRONMENT "${ATTNRT_MPI_TEST_ENV}")
endfunction()
