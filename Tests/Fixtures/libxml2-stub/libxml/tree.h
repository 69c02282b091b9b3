/* Declarations only; see xmlversion.h. */
#ifndef STUB_TREE_H
#define STUB_TREE_H
#include <libxml/xmlversion.h>

typedef unsigned char xmlChar;
typedef struct _xmlNode xmlNode;
typedef xmlNode *xmlNodePtr;
typedef struct _xmlDoc xmlDoc;
typedef xmlDoc *xmlDocPtr;
struct _xmlNode {
    void *_private;
    int type;
    const xmlChar *name;
    struct _xmlNode *children;
    struct _xmlNode *next;
};
struct _xmlDoc {
    void *_private;
    int type;
    char *name;
    struct _xmlNode *children;
    void *intSubset;
    void *extSubset;
};
void xmlFreeDoc(xmlDocPtr cur);
long xmlGetLineNo(const xmlNode *node);
#endif
