/* Declarations only; see xmlversion.h. */
#ifndef STUB_XMLMEMORY_H
#define STUB_XMLMEMORY_H
typedef void (*xmlFreeFunc)(void *mem);
extern xmlFreeFunc xmlFree;
#endif
