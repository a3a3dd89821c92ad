#include "ctl.h"
#include "shell.h"
