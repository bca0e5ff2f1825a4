#!/usr/bin/env node
// The installed command. Runs the compiled CLI (npm run build; `npm ci` builds it via prepare).
import { main } from '../dist/cli/main.js';

await main();
