# Finds what mpimr builds against: MPI (C bindings), hwloc and, for tests, cmocka.
# hwloc and cmocka come through pkg-config imported targets (Debian's cmocka
# CMake config defines no target).
find_package(MPI REQUIRED COMPONENTS C)
if(MPIMR_FORTRAN)
  find_package(MPI REQUIRED COMPONENTS C Fortran) # the Fortran example's `use mpi`
endif()
find_package(PkgConfig REQUIRED)
pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET hwloc)
if(MPIMR_BUILD_TESTS)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
