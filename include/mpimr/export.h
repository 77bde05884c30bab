/**
 * @file
 * mpimr/export.h — symbol visibility. The library is built with
 * -fvisibility=hidden; only declarations marked MPIMR_API are exported.
 */
#ifndef MPIMR_EXPORT_H
#define MPIMR_EXPORT_H

#if defined(MPIMR_BUILDING_LIBRARY) && defined(__GNUC__)
#define MPIMR_API __attribute__((visibility("default")))
#else
#define MPIMR_API
#endif

#endif /* MPIMR_EXPORT_H */
