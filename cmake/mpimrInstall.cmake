# Install rules: headers, both libraries, the CMake package (mpimr::mpimr,
# mpimr::mpimr_static) and a pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS mpimr mpimr_static EXPORT mpimrTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET mpimr_fortran)
  # The Fortran module: libmpimr_fortran.a and mpimr.mod (for the compiler that built it).
  install(TARGETS mpimr_fortran EXPORT mpimrTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY "${PROJECT_BINARY_DIR}/include/mpimr/fortran/" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mpimr/fortran)
  install(TARGETS mpimr-wordcount-fortran RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/mpimr" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES "${PROJECT_BINARY_DIR}/include/mpimr/version.h" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mpimr)
install(TARGETS mpimr-wordcount mpimr-invindex mpimr-sort mpimr-gensort mpimr-valsort mpimr-gentext
  mpimr-rmat mpimr-pagerank mpimr-kmeans mpimr-cc
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(MPIMR_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mpimr)
install(EXPORT mpimrTargets NAMESPACE mpimr:: DESTINATION ${MPIMR_CMAKE_DIR})
configure_package_config_file(cmake/mpimrConfig.cmake.in
  "${PROJECT_BINARY_DIR}/mpimrConfig.cmake" INSTALL_DESTINATION ${MPIMR_CMAKE_DIR})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/mpimrConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/mpimrConfig.cmake" "${PROJECT_BINARY_DIR}/mpimrConfigVersion.cmake"
  DESTINATION ${MPIMR_CMAKE_DIR})

# The .pc file finds its prefix relative to itself, whatever the library directory is called.
file(RELATIVE_PATH MPIMR_PC_TO_PREFIX "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" MPIMR_PC_TO_PREFIX "${MPIMR_PC_TO_PREFIX}")
configure_file(cmake/mpimr.pc.in "${PROJECT_BINARY_DIR}/mpimr.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/mpimr.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
