// Loaded before every test file (bunfig.toml): tests start real processes, compilers and
// gdb, so the default 5 s per test and hook is too short on a 2-core machine.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(120_000);
