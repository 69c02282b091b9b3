/* Declarations only; see xmlversion.h. */
#ifndef STUB_PARSER_H
#define STUB_PARSER_H
#include <libxml/xmlversion.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

typedef struct _xmlParserInput xmlParserInput;
typedef xmlParserInput *xmlParserInputPtr;
typedef struct _xmlParserCtxt xmlParserCtxt;
typedef xmlParserCtxt *xmlParserCtxtPtr;
struct _xmlParserCtxt {
    void *sax;
    void *userData;
    xmlDocPtr myDoc;
    int wellFormed;
};
typedef xmlParserInputPtr (*xmlExternalEntityLoader)(const char *URL, const char *ID, xmlParserCtxtPtr context);
typedef enum {
    XML_PARSE_RECOVER = 1 << 0,
    XML_PARSE_NOERROR = 1 << 5,
    XML_PARSE_NOWARNING = 1 << 6,
    XML_PARSE_NOBLANKS = 1 << 8,
    XML_PARSE_NONET = 1 << 11,
    XML_PARSE_COMPACT = 1 << 16,
    XML_PARSE_BIG_LINES = 1 << 22
} xmlParserOption;

void xmlSetExternalEntityLoader(xmlExternalEntityLoader f);
xmlParserCtxtPtr xmlNewParserCtxt(void);
void xmlFreeParserCtxt(xmlParserCtxtPtr ctxt);
xmlDocPtr xmlCtxtReadMemory(xmlParserCtxtPtr ctxt, const char *buffer, int size, const char *URL,
                            const char *encoding, int options);
#endif
