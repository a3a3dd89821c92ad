#include "pf.h"
