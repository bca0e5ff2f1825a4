// Placeholder for suites that later issues build (test:vm: issue 7, bench: issue 8).
const [what, issue] = process.argv.slice(2);
console.error(`${what ?? 'this script'} is not implemented yet (${issue ?? 'see the issues'}).`);
process.exitCode = 1;
