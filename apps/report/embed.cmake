# apps/report/embed.cmake: makes the C source of mpimr-report's page (run with cmake -P at build time).
#
# Puts STYLE (report.css) and SCRIPT (report.js) into TEMPLATE (page.html) in place of their markers,
# cuts the page at the data marker, where mpimr-report writes the job's data, and writes the two
# halves as the byte arrays report_page_head and report_page_tail (declared in apps/report_page.h) to
# OUTPUT. Fails if a marker is missing, or if the style or script would end their element early.
#
# usage: cmake -DTEMPLATE=page.html -DSTYLE=report.css -DSCRIPT=report.js -DOUTPUT=report_page.c -P embed.cmake

foreach(variable TEMPLATE STYLE SCRIPT OUTPUT)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "embed.cmake: -D${variable}=... is required")
  endif()
endforeach()

file(READ "${TEMPLATE}" page)
file(READ "${STYLE}" style)
file(READ "${SCRIPT}" script)

# Inside <style> and <script> the only thing the HTML parser looks for is the end tag.
string(TOLOWER "${style}" style_lower)
string(TOLOWER "${script}" script_lower)
string(FIND "${style_lower}" "</style" style_end)
string(FIND "${script_lower}" "</script" script_end)
if(NOT style_end EQUAL -1 OR NOT script_end EQUAL -1)
  message(FATAL_ERROR "embed.cmake: ${STYLE} holds </style or ${SCRIPT} holds </script: write it as <\\/...")
endif()

# Replaces the one marker MARKER in `page` with TEXT.
function(replace_marker marker text)
  string(FIND "${page}" "${marker}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "embed.cmake: ${TEMPLATE} has no ${marker}")
  endif()
  string(REPLACE "${marker}" "${text}" replaced "${page}")
  set(page "${replaced}" PARENT_SCOPE)
endfunction()
replace_marker("<!-- mpimr-report:style -->" "${style}")
replace_marker("<!-- mpimr-report:script -->" "${script}")

set(data_marker "<!-- mpimr-report:data -->")
string(FIND "${page}" "${data_marker}" data_at)
if(data_at EQUAL -1)
  message(FATAL_ERROR "embed.cmake: ${TEMPLATE} has no ${data_marker}")
endif()
string(LENGTH "${data_marker}" marker_length)
math(EXPR tail_at "${data_at} + ${marker_length}")
string(SUBSTRING "${page}" 0 ${data_at} head)
string(SUBSTRING "${page}" ${tail_at} -1 tail)

# Writes TEXT as the initialiser of a byte array: 0x3c,0x21,... sixteen to a line.
function(byte_array text result)
  # Through a file: file(READ ... HEX) is CMake's one way from text to its bytes' hex digits.
  file(WRITE "${OUTPUT}.part" "${text}")
  file(READ "${OUTPUT}.part" hex HEX)
  file(REMOVE "${OUTPUT}.part")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){16})" "\\1\n  " bytes "${bytes}")
  string(LENGTH "${hex}" digits)
  math(EXPR size "${digits} / 2")
  set(${result} "${bytes}" PARENT_SCOPE)
  set(${result}_size ${size} PARENT_SCOPE)
endfunction()
byte_array("${head}" head_bytes)
byte_array("${tail}" tail_bytes)

file(WRITE "${OUTPUT}.new"
"/* Made by apps/report/embed.cmake from apps/report/page.html, report.css and report.js: do not edit. */
#include \"report_page.h\"

const unsigned char report_page_head[] = {
  ${head_bytes}};
const size_t report_page_head_size = ${head_bytes_size};

const unsigned char report_page_tail[] = {
  ${tail_bytes}};
const size_t report_page_tail_size = ${tail_bytes_size};
")
file(RENAME "${OUTPUT}.new" "${OUTPUT}")
