#ifndef VMPROV_CARCHIVE_SHIM_H
#define VMPROV_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>

/* AE_IFREG / AE_IFDIR are cast macros (`((__LA_MODE_T)0100000)`) that Swift does not import. */
static inline unsigned int vmp_archive_type_regular(void) { return (unsigned int)AE_IFREG; }
static inline unsigned int vmp_archive_type_directory(void) { return (unsigned int)AE_IFDIR; }
static inline unsigned int vmp_archive_type_symlink(void) { return (unsigned int)AE_IFLNK; }
#endif
