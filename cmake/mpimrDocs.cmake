# API reference: `cmake --build build --target docs` writes HTML from the public
# headers (include/mpimr; the main page is in mpimr.h) to build/docs/html, when
# Doxygen is installed. Only
# documented entities are listed, and Doxygen's warnings (an undocumented
# public function, a parameter named in a comment that does not exist) go to
# build/docs/warnings.log, which the test `docs.reference` requires empty.
find_package(Doxygen QUIET)
if(NOT DOXYGEN_FOUND)
  message(STATUS "mpimr: Doxygen not found; the docs target is not available")
  return()
endif()

set(DOXYGEN_PROJECT_NAME "mpimr")
set(DOXYGEN_PROJECT_NUMBER "${PROJECT_VERSION}")
set(DOXYGEN_PROJECT_BRIEF "${PROJECT_DESCRIPTION}")
set(DOXYGEN_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/docs")
set(DOXYGEN_OPTIMIZE_OUTPUT_FOR_C YES)
set(DOXYGEN_EXTRACT_ALL NO)
set(DOXYGEN_EXTRACT_STATIC YES) # the inline helpers of kv.h are part of the API
set(DOXYGEN_WARN_IF_UNDOCUMENTED YES)
set(DOXYGEN_WARN_IF_DOC_ERROR YES)
set(DOXYGEN_WARN_LOGFILE "${PROJECT_BINARY_DIR}/docs/warnings.log")
set(DOXYGEN_GENERATE_LATEX NO)
set(DOXYGEN_FULL_PATH_NAMES YES)
set(DOXYGEN_STRIP_FROM_PATH "${PROJECT_SOURCE_DIR}/include" "${PROJECT_BINARY_DIR}/include" "${PROJECT_SOURCE_DIR}")
set(DOXYGEN_STRIP_FROM_INC_PATH "${PROJECT_SOURCE_DIR}/include" "${PROJECT_BINARY_DIR}/include")
set(DOXYGEN_MACRO_EXPANSION YES)
set(DOXYGEN_PREDEFINED "MPIMR_API=" "__GNUC__=1")
set(DOXYGEN_QUIET YES)
set(DOXYGEN_SORT_MEMBER_DOCS NO) # in the order the headers explain them
doxygen_add_docs(docs
  "${PROJECT_SOURCE_DIR}/include/mpimr" "${PROJECT_BINARY_DIR}/include/mpimr/version.h"
  COMMENT "API reference (Doxygen) in ${PROJECT_BINARY_DIR}/docs/html")
