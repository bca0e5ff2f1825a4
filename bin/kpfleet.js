#!/usr/bin/env node
'use strict';
// The installed command. Runs the built CLI, dist/kpfleet.cjs (npm run build; `npm ci` builds it
// via prepare), with V8's code cache (load-cli.cjs). CommonJS (bin/package.json): an ES module
// here would start Node's ESM loader, a fifth of kpfleet's start-up, for one file.
const { join } = require('node:path');
const { loadCli, tierUpLater } = require('./load-cli.cjs');

// before any code of kpfleet's runs: V8 optimises code later, for a run of seconds (load-cli.cjs)
tierUpLater();

// the command names the kind of run for the code cache: each command's code is cached once it ran
void loadCli(join(__dirname, '../dist/kpfleet.cjs'), process.argv[2] ?? '').main();
