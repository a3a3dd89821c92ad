#include "lib.h"
#include "../node/shell.h"
