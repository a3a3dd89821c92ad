#include "conn.h"
#include "lib.h"
