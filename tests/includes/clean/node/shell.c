#include "shell.h"
#include "conn.h"
