// What `require("nsbox")` and `import "nsbox"` run under Node (package.json "exports": Bun takes
// the "bun" condition first and never loads this). nsbox is TypeScript run by Bun and uses
// bun:ffi, so under Node it says so in one line and exits 125 (nsbox failed), instead of a stack
// trace from the first Bun API.
"use strict";
process.stderr.write("nsbox: needs Bun, and this is Node " + process.version + ": install Bun with `npm install -g bun` or `curl -fsSL https://bun.sh/install | bash` (https://bun.sh), then run your program with bun\n");
process.exit(125);
