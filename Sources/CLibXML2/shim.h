#ifndef VMPROV_CLIBXML2_SHIM_H
#define VMPROV_CLIBXML2_SHIM_H

/* libxml2 can be built with ICU; its headers then pull in the system's <unicode/…>, which clashes with
 * Foundation's own ICU module in any Swift module that sees both. vmprov never touches an encoding handler
 * (the only place ICU types appear), so the ICU declarations are left out. */
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlmemory.h>
#include <string.h>

/* The parse result: a document, or the first error libxml2 reported. */
typedef struct {
    xmlDocPtr doc;
    int line;
    int column;
    char message[512];
} vmp_xml_parse_result;

/* Never load anything from outside the document: no DTD, no external entity, no network. */
static xmlParserInputPtr vmp_xml_refuse_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt) {
    (void)url; (void)id; (void)ctxt;
    return NULL;
}

/* libxml2 2.12 changed xmlStructuredErrorFunc from (void *, xmlErrorPtr) to (void *, const xmlError *), and
 * xmlCtxtGetLastError now returns a const pointer; clang 16+ rejects a handler of the other shape
 * (-Wincompatible-function-pointer-types is an error there). The handler takes whichever the headers declare,
 * and is passed where the library's own xmlStructuredErrorFunc typedef is expected, so a mismatch is caught
 * (checked against the installed headers and a stub of the 2.12+ prototypes by Tests/VBoxXMLTests/ShimHeaderTests). */
#if LIBXML_VERSION >= 21200
typedef const xmlError *vmp_xml_error_ref;
#else
typedef xmlError *vmp_xml_error_ref;
#endif

static void vmp_xml_silent(void *ctx, const char *msg, ...) { (void)ctx; (void)msg; }
static void vmp_xml_silent_structured(void *ctx, vmp_xml_error_ref err) { (void)ctx; (void)err; }

/* Parse a settings document with no network, no entity substitution, no DTD loading, no recovery. */
static inline vmp_xml_parse_result vmp_xml_parse(const char *buffer, int length, const char *url) {
    vmp_xml_parse_result result;
    memset(&result, 0, sizeof result);
    xmlSetExternalEntityLoader(vmp_xml_refuse_loader);
    xmlSetGenericErrorFunc(NULL, vmp_xml_silent);
    xmlSetStructuredErrorFunc(NULL, vmp_xml_silent_structured);
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        strncpy(result.message, "libxml2 could not allocate a parser", sizeof result.message - 1);
        return result;
    }
    /* NOBLANKS (as VirtualBox's XmlFileParser::read) drops the whitespace-only text nodes between elements and
     * COMPACT stores short text inside its node: vmprov reads only elements and attributes from the tree (the
     * text itself is kept as bytes), and together they take about a third off the tree of a large file. */
    int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_BIG_LINES |
                  XML_PARSE_NOBLANKS | XML_PARSE_COMPACT;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, buffer, length, url, "UTF-8", options);
    if (doc == NULL || !ctxt->wellFormed) {
        const xmlError *err = xmlCtxtGetLastError(ctxt);
        if (err != NULL) {
            result.line = err->line;
            result.column = err->int2;
            if (err->message != NULL) {
                strncpy(result.message, err->message, sizeof result.message - 1);
                size_t n = strlen(result.message);
                while (n > 0 && (result.message[n - 1] == '\n' || result.message[n - 1] == ' ')) {
                    result.message[--n] = 0;
                }
            }
        } else {
            strncpy(result.message, "not well-formed XML", sizeof result.message - 1);
        }
        if (doc != NULL) xmlFreeDoc(doc);
        xmlFreeParserCtxt(ctxt);
        return result;
    }
    xmlFreeParserCtxt(ctxt);
    result.doc = doc;
    return result;
}

/* xmlFree is a function pointer variable in libxml2; Swift cannot call it directly. */
static inline void vmp_xml_free_string(xmlChar *s) { if (s != NULL) xmlFree(s); }

static inline long vmp_xml_line(xmlNodePtr node) { return xmlGetLineNo(node); }

#endif
