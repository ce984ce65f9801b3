#!/usr/bin/env node
// The `summit-config` command: a committed entry point (so installing the package links it even
// before `dist/` is built), which runs the compiled CLI.
import '../dist/cli.js';
