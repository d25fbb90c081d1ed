/* One translation unit: TinyCC compiles it in one pass, faster than seven. */
#include "spawn.c"
#include "run_ops.c"
#include "safe_path.c"
#include "init.c"
#include "pty.c"
#include "caps.c"
#include "net.c"
#include "host.c"
