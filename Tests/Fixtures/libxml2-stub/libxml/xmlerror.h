/* Declarations only; see xmlversion.h. */
#ifndef STUB_XMLERROR_H
#define STUB_XMLERROR_H
#include <libxml/xmlversion.h>

typedef struct _xmlError {
    int domain;
    int code;
    char *message;
    int level;
    char *file;
    int line;
    char *str1;
    char *str2;
    char *str3;
    int int1;
    int int2;
    void *ctxt;
    void *node;
} xmlError;
typedef xmlError *xmlErrorPtr;

typedef void (*xmlGenericErrorFunc)(void *ctx, const char *msg, ...);
#if LIBXML_VERSION >= 21200
/* libxml2 2.12 and later */
typedef void (*xmlStructuredErrorFunc)(void *userData, const xmlError *error);
const xmlError *xmlCtxtGetLastError(void *ctx);
#else
typedef void (*xmlStructuredErrorFunc)(void *userData, xmlErrorPtr error);
xmlErrorPtr xmlCtxtGetLastError(void *ctx);
#endif
void xmlSetGenericErrorFunc(void *ctx, xmlGenericErrorFunc handler);
void xmlSetStructuredErrorFunc(void *ctx, xmlStructuredErrorFunc handler);
#endif
