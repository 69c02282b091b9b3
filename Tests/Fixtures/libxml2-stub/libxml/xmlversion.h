/* Minimal stand-in for libxml2's headers, written for vmprov's tests (declarations only, no code from libxml2):
 * just what Sources/CLibXML2/shim.h uses, with the prototypes as libxml2 2.9-2.11 and 2.12-2.14 declare them.
 * STUB_LIBXML_VERSION picks the release (default 21200, the first with `const xmlError *`). */
#ifndef STUB_XMLVERSION_H
#define STUB_XMLVERSION_H
#ifndef STUB_LIBXML_VERSION
#define STUB_LIBXML_VERSION 21200
#endif
#define LIBXML_VERSION STUB_LIBXML_VERSION
#define LIBXML_ICU_ENABLED
#endif
