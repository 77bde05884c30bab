/*
 * apps/report_page.h — the page mpimr-report writes, made at build time by
 * apps/report/embed.cmake from apps/report/page.html with report.css and
 * report.js inlined. The page is cut where the job's data goes: the program
 * writes the head, then its <script type="application/json"> blocks, then
 * the tail. Not part of the library.
 */
#ifndef MPIMR_APPS_REPORT_PAGE_H
#define MPIMR_APPS_REPORT_PAGE_H

#include <stddef.h>

/** The page up to where the data goes: the markup of the sections and the style. */
extern const unsigned char report_page_head[];
extern const size_t report_page_head_size;

/** The rest: the script that draws the page from the data, and the closing tags. */
extern const unsigned char report_page_tail[];
extern const size_t report_page_tail_size;

#endif /* MPIMR_APPS_REPORT_PAGE_H */
