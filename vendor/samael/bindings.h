//
// xmlsec1 headers include
//
#include <xmlsec/app.h>
#include <xmlsec/crypto.h>
#include <xmlsec/keys.h>
#include <xmlsec/templates.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/list.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
