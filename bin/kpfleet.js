#!/usr/bin/env node
'use strict';
// The installed command. Runs the built CLI, dist/kpfleet.cjs (npm run build; `npm ci` builds it
// via prepare). CommonJS (bin/package.json): an ES module here would start Node's ESM loader, a
// fifth of kpfleet's start-up, for one file.
void require('../dist/kpfleet.cjs').main();
